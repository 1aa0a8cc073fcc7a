//! `icrl model`: inspect the action model's presets (parameter tables with exact counts).

use std::collections::BTreeMap;

use agent::model::{Config, FfnKind, Model, PRESETS, ParamRow, param_table, totals};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tch::Device;

use crate::common::thousands;

#[derive(Args, Debug)]
pub struct ModelArgs {
    #[command(subcommand)]
    pub command: ModelCommand,
}

#[derive(Subcommand, Debug)]
pub enum ModelCommand {
    /// Print a preset's parameters per module, totals, and active parameters per token.
    Info(InfoArgs),
}

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// Model preset: tiny, small, vintix-300m or vintix-300m-remoe.
    #[arg(long, default_value = "small")]
    pub preset: String,

    /// Read the config from this JSON file instead of a preset: a model config, or a training
    /// run's config.json (its `model`).
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,

    /// Also build the model's weights on the CPU and check that they hold exactly the counted
    /// parameters (the 300M presets take about 1.3 GB and some seconds).
    #[arg(long)]
    pub build: bool,

    /// Print one JSON document instead of the tables: `name`, `config` (the model config),
    /// `modules` (per module: `module`, `what`, `parameters`, `active`), `parameters` and
    /// `active_parameters` (per token), and with --build `built_parameters`.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &ModelArgs) -> Result<()> {
    match &args.command {
        ModelCommand::Info(a) => info(a),
    }
}

fn info(args: &InfoArgs) -> Result<()> {
    let (cfg, name) = load_config(args)?;
    cfg.validate().with_context(|| format!("model config {name}"))?;
    let rows = param_table(&cfg);
    let (total, active) = totals(&cfg, &rows);
    let built = if args.build {
        let model = Model::new(&cfg, Device::Cpu, &mut StdRng::seed_from_u64(0))
            .context("building the model on the CPU")?;
        let built = model.num_parameters();
        if built != total {
            bail!("the built model has {built} parameters but the table counts {total}");
        }
        Some(built)
    } else {
        None
    };
    if args.json {
        return print_json(&name, &cfg, &rows, (total, active), built);
    }
    println!(
        "model {name}: {} layers, hidden {}, {} heads of {}, pattern {:?}, FFN {}, context {} steps, {} domain groups",
        cfg.layers,
        cfg.hidden,
        cfg.heads,
        cfg.head_dim(),
        cfg.pattern,
        ffn_name(&cfg),
        cfg.context,
        cfg.groups.len()
    );
    println!(
        "token: obs {} + previous action {} + previous reward {} ({}) = {}",
        cfg.obs_embed(),
        cfg.action_embed(),
        cfg.reward_embed,
        cfg.reward_encoder.name(),
        cfg.hidden
    );
    println!();
    println!("{:<20} {:<36} {:>14} {:>14}", "module", "what", "parameters", "active/token");
    for row in &rows {
        println!(
            "{:<20} {:<36} {:>14} {:>14}",
            row.module,
            row.what,
            thousands(row.total),
            thousands(row.active)
        );
    }
    println!();
    print_by_kind(&rows);
    println!();
    println!("total parameters             {:>14} ({:.1}M)", thousands(total), total as f64 / 1e6);
    println!(
        "active parameters per token  {:>14} ({:.1}M; backbone{} + the largest group's encoders and decoder)",
        thousands(active),
        active as f64 / 1e6,
        if cfg.ffn == FfnKind::Remoe {
            format!(" with {} of {} experts", cfg.active_experts, cfg.experts)
        } else {
            String::new()
        }
    );
    if let Some(built) = built {
        println!("built on the CPU: {} trainable parameters", thousands(built));
        println!("the table matches the built weights exactly");
    }
    Ok(())
}

/// The --json document: the config, the table and the totals.
fn print_json(
    name: &str,
    cfg: &Config,
    rows: &[ParamRow],
    (total, active): (i64, i64),
    built: Option<i64>,
) -> Result<()> {
    let modules: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({"module": r.module, "what": r.what, "parameters": r.total,
                "active": r.active})
        })
        .collect();
    let mut doc = serde_json::json!({"name": name, "config": cfg, "modules": modules,
        "parameters": total, "active_parameters": active});
    if let Some(b) = built {
        doc["built_parameters"] = b.into();
    }
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(())
}

/// The model config of --config (a model config, or a run's config.json) or of --preset,
/// with the name to show for it.
fn load_config(args: &InfoArgs) -> Result<(Config, String)> {
    Ok(match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading model config {}", path.display()))?;
            let value: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("parsing model config {}", path.display()))?;
            // A run's config.json holds the model config under `model`.
            let model = match value.get("model") {
                Some(m) if m.is_object() => m.clone(),
                _ => value,
            };
            let cfg: Config = serde_json::from_value(model)
                .with_context(|| format!("parsing model config {}", path.display()))?;
            (cfg, path.display().to_string())
        }
        None => (
            Config::preset(&args.preset)
                .with_context(|| format!("--preset: expected one of {}", PRESETS.join(", ")))?,
            args.preset.clone(),
        ),
    })
}

/// Parameters and module counts by kind of module.
fn print_by_kind(rows: &[ParamRow]) {
    let mut by_kind: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for row in rows {
        let kind = kind_of(row);
        let e = by_kind.entry(kind).or_default();
        e.0 += row.total;
        e.1 += 1;
    }
    println!("{:<36} {:>8} {:>14}", "by kind", "modules", "parameters");
    for (kind, (count, modules)) in &by_kind {
        println!("{kind:<36} {modules:>8} {:>14}", thousands(*count));
    }
}

/// The kind of module a table row is, for the table by kind.
fn kind_of(row: &ParamRow) -> &'static str {
    if row.module.ends_with(".encoder") {
        "encoders (all groups)"
    } else if row.module.ends_with(".decoder") {
        "action decoders (all groups)"
    } else if row.module.ends_with(".mixer") {
        if row.what.starts_with("lightning") { "lightning attention" } else { "softmax attention" }
    } else if row.module.ends_with(".ffn") {
        "feed-forward"
    } else {
        "norms"
    }
}

fn ffn_name(cfg: &Config) -> String {
    match cfg.ffn {
        FfnKind::Gelu => format!("GELU {}", cfg.ffn_hidden),
        FfnKind::Swiglu => format!("SwiGLU {}", cfg.ffn_hidden),
        FfnKind::Remoe => format!(
            "ReMoE {} experts x {} (target {} active, sparsity {:.3})",
            cfg.experts,
            cfg.ffn_hidden,
            cfg.active_experts,
            cfg.remoe_target_sparsity()
        ),
    }
}
