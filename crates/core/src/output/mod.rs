//! Output: charts (plotters, SVG and PNG) and exports (CSV, JSON, Parquet).

mod boxplot;
pub mod cd_diagram;
pub mod charts;
pub mod export;
pub mod html;
pub mod otlp;
pub mod timeline;
