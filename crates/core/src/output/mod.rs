//! Output: charts (plotters, SVG and PNG) and exports (CSV, JSON, Parquet).

mod boxplot;
pub mod charts;
pub mod export;
pub mod timeline;
