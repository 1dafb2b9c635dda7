//! Flags become the library's settings (ripgrep's low-level arguments to
//! high-level ones): defaults come from the library's `Default`s, and
//! combinations no single flag's parser can see are refused here as usage
//! errors.

use softreg::app::plan_cache::SavedPlan;
use softreg::compute::{Compute, MAX_MODELS};
use softreg::data::{Dataset, PixelFormat};
use softreg::fit::lbfgs::LbfgsSettings;
use softreg::fit::precondition::Preconditioning;
use softreg::fit::{FitConfig, Penalty, Start};
use softreg::kernel::{Isa, Kernel, Plan};
use softreg::train::{Grid, Optimizer, Param, RunConfig, Setting, SweepConfig, TrainConfig};

use super::args::{
    ComputeArgs, KernelArg, KernelChoice, OptimizerArg, PixelsArg, PreconditionArg, RunArgs,
    SolverArgs, SweepArgs, TrainArgs,
};

/// Flags that cannot be used together, or a list the command cannot take:
/// exit status 2, as for a flag clap refuses.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The training run `train`'s flags describe (its kernel the default until
/// [`kernel`] resolves `--kernel` against the data); flags of the other
/// optimizer are refused.
pub fn train_config(args: &TrainArgs) -> Result<TrainConfig, UsageError> {
    Ok(TrainConfig {
        run: run_config(&args.run, args.validation),
        compute: compute(&args.compute)?,
        setting: Setting {
            optimizer: optimizer(args)?,
            learning_rate: args.lr,
            seed: args.seed,
            schedule: args.schedule,
        },
        init: None,
    })
}

/// The kernel `--kernel` names, `auto` chosen for models of `data`'s shape.
pub fn kernel(arg: &KernelChoice, data: &Dataset) -> Kernel {
    match arg.kernel {
        KernelArg::Auto => Kernel::for_shape(data.train.images.features(), data.classes),
        KernelArg::Fused => Kernel::Fused,
        KernelArg::Gemm => Kernel::Gemm,
        KernelArg::Reference => Kernel::Reference,
    }
}

/// What every training command's flags say of the run.
fn run_config(run: &RunArgs, validation: usize) -> RunConfig {
    RunConfig {
        epochs: run.epochs,
        batch_size: run.batch_size,
        validation,
        patience: run.patience,
    }
}

/// What every training command's flags say of where it computes (its kernel
/// the default until [`kernel`] resolves `--kernel` against the data).
fn compute(args: &ComputeArgs) -> Result<Compute, UsageError> {
    let isa = isa(args.isa.as_deref())?;
    let (plan, _) = plan(args.plan.plan, isa.unwrap_or_else(Isa::best))?;
    Ok(Compute {
        isa,
        plan: Some(plan),
        threads: args.threads.threads,
        ..Compute::default()
    })
}

/// The instruction set `--isa` names, if given; one this CPU does not run is
/// refused, naming those it does.
pub fn isa(name: Option<&str>) -> Result<Option<Isa>, UsageError> {
    name.map(|name| {
        Isa::named(name).map_err(|available| {
            UsageError(format!(
                "--isa {name}: this CPU does not run it; it runs {}",
                available.join(", ")
            ))
        })
    })
    .transpose()
}

/// The fused kernel's plan on `isa`, and where it came from: `--plan`, else
/// `SOFTREG_PLAN`, else the plan `softreg tune` saved for this CPU and
/// version, else the instruction set's default. A saved plan that cannot be
/// read is passed over with a warning (training does not depend on it).
pub fn plan(flag: Option<Plan>, isa: Isa) -> Result<(Plan, &'static str), UsageError> {
    if let Some(plan) = flag {
        return Ok((plan, "--plan"));
    }
    if let Some(text) = std::env::var_os(PLAN_VARIABLE).filter(|v| !v.is_empty()) {
        let text = text.to_string_lossy();
        let plan = text
            .parse()
            .map_err(|e| UsageError(format!("{PLAN_VARIABLE}={text}: {e}")))?;
        return Ok((plan, PLAN_VARIABLE));
    }
    match SavedPlan::load(isa) {
        Ok(Some(plan)) => Ok((plan, "saved by softreg tune")),
        Ok(None) => Ok((Plan::default_for(isa), "default")),
        Err(e) => {
            eprintln!("warning: {e}; using the default plan");
            Ok((Plan::default_for(isa), "default"))
        }
    }
}

/// The environment variable that names a plan for every command.
const PLAN_VARIABLE: &str = "SOFTREG_PLAN";

/// The optimizer `--optimizer`'s spec names, with the settings its flags
/// give (`--momentum 0.9` is `sgd:momentum=0.9`); a setting PyTorch refuses
/// is refused when the run is checked.
fn optimizer(args: &TrainArgs) -> Result<Optimizer, UsageError> {
    let base = match args.optimizer.0[..] {
        [OptimizerArg::FirstOrder(optimizer)] => optimizer,
        [OptimizerArg::Lbfgs] => {
            return Err(UsageError(
                "--optimizer lbfgs is a full-batch fit: `train` runs it with fit_config".into(),
            ));
        }
        _ => {
            return Err(UsageError(
                "train takes one --optimizer (sweep takes many)".into(),
            ));
        }
    };
    let numbers = [
        ("momentum", args.momentum),
        ("weight_decay", args.weight_decay),
        ("beta1", args.beta1),
        ("beta2", args.beta2),
        ("eps", args.eps),
    ];
    let given = (numbers.into_iter())
        .filter_map(|(key, value)| Some((key, Param::Number(value?))))
        .chain(args.nesterov.then_some(("nesterov", Param::Switch(true))));
    let optimizer = given
        .into_iter()
        .try_fold(base, |optimizer, (key, value)| {
            optimizer
                .with(key, value)
                .map_err(|e| UsageError(e.to_string()))
        })?;
    if optimizer.nesterov() && optimizer.momentum() == Some(0.0) {
        return Err(UsageError("--nesterov needs a --momentum above 0".into()));
    }
    Ok(optimizer)
}

/// The pixel format `--pixels` names.
pub fn pixels(arg: PixelsArg) -> PixelFormat {
    match arg {
        PixelsArg::F32 => PixelFormat::F32,
        PixelsArg::U8 => PixelFormat::U8,
    }
}

/// The full-batch fit `train --optimizer lbfgs`'s flags describe (its kernel
/// the default until [`kernel`] resolves `--kernel`).
pub fn fit_config(args: &TrainArgs) -> Result<FitConfig, UsageError> {
    let penalty = match (args.c, args.l2) {
        (_, Some(lambda)) => Penalty::L2(lambda),
        (c, None) => Penalty::C(c.unwrap_or(1.0)),
    };
    Ok(FitConfig {
        compute: compute(&args.compute)?,
        validation: args.validation,
        penalties: vec![penalty],
        solver: solver(&args.solver, args.plot.is_some())?,
        test_every: 10,
        preconditioning: preconditioning(args.solver.precondition),
        start: Start::Zero,
    })
}

fn preconditioning(arg: Option<PreconditionArg>) -> Preconditioning {
    match arg {
        None | Some(PreconditionArg::Auto) => Preconditioning::Auto,
        Some(PreconditionArg::Gram) => Preconditioning::Gram,
        Some(PreconditionArg::None) => Preconditioning::None,
    }
}

/// The solver's settings from `--tol` and `--max-iter`; `--plot` refused (it
/// draws epochs, and a fit has none).
fn solver(args: &SolverArgs, plot: bool) -> Result<LbfgsSettings, UsageError> {
    if plot {
        return Err(UsageError(
            "--plot draws epochs; an L-BFGS fit has none (--json has every iteration)".into(),
        ));
    }
    let defaults = LbfgsSettings::default();
    Ok(LbfgsSettings {
        gtol: args.tol.unwrap_or(defaults.gtol),
        max_iter: args.max_iter.unwrap_or(defaults.max_iter),
        ..defaults
    })
}

/// The fits `sweep --optimizer lbfgs`'s flags describe: one per `--C` and
/// per `--l2`.
pub fn fit_sweep_config(args: &SweepArgs) -> Result<FitConfig, UsageError> {
    if args.optimizer.0 != [OptimizerArg::Lbfgs] {
        return Err(UsageError(
            "--optimizer lbfgs fits alone: list it without sgd or adam".into(),
        ));
    }
    let mut penalties: Vec<Penalty> = args.c.iter().map(|&c| Penalty::C(c)).collect();
    penalties.extend(args.l2.iter().map(|&l| Penalty::L2(l)));
    if penalties.is_empty() {
        penalties.push(Penalty::C(1.0));
    }
    if penalties.len() > MAX_MODELS {
        return Err(UsageError(format!(
            "{} values of --C and --l2 are more than the {MAX_MODELS} one sweep fits",
            penalties.len()
        )));
    }
    no_repeats("--C", &args.c)?;
    no_repeats("--l2", &args.l2)?;
    Ok(FitConfig {
        compute: compute(&args.compute)?,
        validation: args.validation,
        penalties,
        solver: solver(&args.solver, args.plot.is_some())?,
        test_every: 0,
        preconditioning: preconditioning(args.solver.precondition),
        start: if args.from_zero {
            Start::Zero
        } else {
            Start::Path
        },
    })
}

/// The grid `sweep`'s flags describe and the sweep of its models. The model
/// count is checked first (cheap, whatever the lists' lengths), then a value
/// listed twice is refused.
pub fn sweep_config(args: &SweepArgs) -> Result<(Grid, SweepConfig), UsageError> {
    let mut optimizers = Vec::new();
    for &optimizer in &args.optimizer.0 {
        match optimizer {
            OptimizerArg::FirstOrder(optimizer) => optimizers.push(optimizer),
            OptimizerArg::Lbfgs => {
                return Err(UsageError(
                    "--optimizer lbfgs fits alone: list it without sgd or adam".into(),
                ));
            }
        }
    }
    if args.nesterov {
        optimizers = (optimizers.into_iter())
            .map(|o| match o.has("nesterov") {
                true => o.with("nesterov", Param::Switch(true)).expect("it has it"),
                false => o,
            })
            .collect();
    }
    let numbers = |values: &[f32]| values.iter().map(|&v| Param::Number(v)).collect();
    let params: Vec<(&'static str, Vec<Param>)> = [
        ("momentum", &args.momentum),
        ("weight_decay", &args.weight_decay),
    ]
    .into_iter()
    .filter(|(_, values)| !values.is_empty())
    .map(|(key, values)| (key, numbers(values)))
    .collect();
    let seeds = args
        .seeds
        .iter()
        .fold(0u64, |n, &(a, b)| n.saturating_add(b - a + 1));
    let grid = Grid {
        optimizers,
        learning_rates: args.lr.clone(),
        params,
        schedules: args.schedule.clone(),
        seeds: Vec::new(),
    };
    let count = Grid {
        seeds: vec![0],
        ..grid.clone()
    }
    .count()
    .saturating_mul(usize::try_from(seeds).unwrap_or(usize::MAX));
    if count > MAX_MODELS {
        return Err(UsageError(format!(
            "the listed values make {count} models, more than the {MAX_MODELS} one sweep \
             trains: list fewer"
        )));
    }
    let seeds: Vec<u64> = args.seeds.iter().flat_map(|&(a, b)| a..=b).collect();
    no_repeats("--lr", &args.lr)?;
    no_repeats("--momentum", &args.momentum)?;
    no_repeats("--weight-decay", &args.weight_decay)?;
    no_repeats("--seeds", &seeds)?;
    no_repeats("--schedule", &args.schedule)?;
    no_repeats("--optimizer", &grid.optimizers)?;
    let momentum = |o: &Optimizer| o.momentum().is_some_and(|m| m > 0.0);
    let with_momentum =
        args.momentum.iter().any(|&m| m > 0.0) || grid.optimizers.iter().any(momentum);
    if args.nesterov && !with_momentum {
        return Err(UsageError("--nesterov needs a --momentum above 0".into()));
    }
    let grid = Grid { seeds, ..grid };
    let config = SweepConfig {
        run: run_config(&args.run, args.validation),
        settings: grid.settings(),
        data_seed: args.data_seed,
        compute: compute(&args.compute)?,
    };
    Ok((grid, config))
}

/// Refuses a list naming a value twice (the same model trained twice).
fn no_repeats<T: PartialEq + std::fmt::Debug>(flag: &str, values: &[T]) -> Result<(), UsageError> {
    for (i, v) in values.iter().enumerate() {
        if values[..i].contains(v) {
            return Err(UsageError(format!("{flag} lists {v:?} twice")));
        }
    }
    Ok(())
}
