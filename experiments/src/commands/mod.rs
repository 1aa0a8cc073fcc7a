//! One module per `icrl` subcommand (or group of subcommands).

pub mod bench;
pub mod compare;
pub mod datagen;
pub mod dataset;
pub mod doctor;
pub mod env;
pub mod eval;
pub mod model;
pub mod ppo;
pub mod quantize;
pub mod train;

/// A float flag's value: any finite number (clap names the flag in its message).
pub fn finite_f64(text: &str) -> Result<f64, String> {
    let value: f64 = text.trim().parse().map_err(|_| format!("expected a number, got `{text}`"))?;
    if !value.is_finite() {
        return Err(format!("expected a finite number, got `{text}`"));
    }
    Ok(value)
}
