//! Judging whether datapoints are honest (`racebench validate`): the
//! reference passes, the unpatched service is caught, every decoy fails what
//! it must; plus the measured rates table kept in each datapoint's README.

mod judge;
mod rates;
mod readme;

pub use judge::{
    render_text, validate, DatapointValidation, Finding, ValidationReport, ValidationStatus,
};
pub use rates::{Rate, RatesRow, RatesTable};
pub use readme::{replace_rates, MarkersError, RATES_END, RATES_START};
