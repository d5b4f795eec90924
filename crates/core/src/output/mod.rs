//! Output: charts (plotters, SVG and PNG) and exports (CSV, JSON, Parquet).

pub mod charts;
pub mod export;
pub mod timeline;
