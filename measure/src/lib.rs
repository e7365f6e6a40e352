#![doc = include_str!("../README.md")]

mod bzimage;
mod error;
mod footer;
mod input;
pub mod snp;
pub mod tdx;

pub use bzimage::BzImage;
pub use error::MeasureError;
pub use input::{Cmdline, DEFAULT_CMDLINE_MAX, Input, parse_size};
