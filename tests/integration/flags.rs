//! The command line as a user reads it: `--help` grouped by concern, and
//! every flag of another optimizer refused with exit status 2, whichever it
//! is (read from `--help` itself, so a new flag is covered without a new
//! test).

use crate::common::{self, softreg};

/// The flags of `softreg COMMAND --help`, each with its heading and whether
/// it takes a value.
fn flags_by_heading(command: &str) -> Vec<(String, String, bool)> {
    let help = softreg(&[command, "--help"]);
    assert!(help.status.success());
    let text = String::from_utf8(help.stdout).unwrap();
    let mut heading = String::new();
    let mut flags = Vec::new();
    for line in text.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            heading = line.trim_end_matches(':').to_string();
        } else if let Some(rest) = line.trim_start().strip_prefix("--") {
            let mut words = rest.split_whitespace();
            let flag = format!("--{}", words.next().unwrap());
            let takes_value = words.next().is_some_and(|w| w.starts_with('<'));
            flags.push((heading.clone(), flag, takes_value));
        }
    }
    flags
}

/// A value each flag's parser takes.
fn value_for(flag: &str) -> &'static str {
    match flag {
        "--schedule" => "constant",
        "--precondition" => "gram",
        "--momentum" | "--beta1" | "--beta2" | "--eps" => "0.5",
        _ => "1",
    }
}

/// Which optimizers the flags under each heading belong to.
fn belongs(heading: &str, optimizer: &str) -> bool {
    match heading {
        "SGD and Adam" => optimizer != "lbfgs",
        "SGD" => optimizer == "sgd",
        "Adam" => optimizer == "adam",
        "L-BFGS" => optimizer == "lbfgs",
        _ => true,
    }
}

#[test]
fn help_groups_the_flags_by_concern() {
    for command in ["train", "sweep"] {
        let flags = flags_by_heading(command);
        let heading_of = |flag: &str| {
            let found = flags.iter().find(|(_, f, _)| f == flag);
            found.map(|(h, _, _)| h.as_str())
        };
        assert_eq!(heading_of("--data"), Some("Data"), "{command}");
        assert_eq!(heading_of("--lr"), Some("SGD and Adam"), "{command}");
        assert_eq!(heading_of("--momentum"), Some("SGD"), "{command}");
        assert_eq!(heading_of("--C"), Some("L-BFGS"), "{command}");
        assert_eq!(heading_of("--threads"), Some("Compute"), "{command}");
        assert_eq!(heading_of("--json"), Some("Output"), "{command}");
        let short = softreg(&[command, "-h"]);
        let width = String::from_utf8(short.stdout).unwrap();
        let widest = width.lines().map(|l| l.chars().count()).max().unwrap();
        assert!(widest <= 100, "{command} -h: a line of {widest} characters");
    }
}

#[test]
fn every_flag_of_another_optimizer_is_refused_with_exit_status_2() {
    let mut refused = 0;
    for command in ["train", "sweep"] {
        for optimizer in ["sgd", "adam", "lbfgs"] {
            if command == "sweep" && optimizer == "adam" {
                continue; // sweep's Adam has no flags of its own
            }
            for (heading, flag, takes_value) in flags_by_heading(command) {
                if belongs(&heading, optimizer) {
                    continue;
                }
                let mut args = vec![command, "--optimizer", optimizer, flag.as_str()];
                if takes_value {
                    args.push(value_for(&flag));
                }
                let says = format!("{flag} is a flag of {heading}");
                common::assert_refused(&softreg(&args), &args, &says);
                refused += 1;
            }
        }
    }
    assert!(refused >= 40, "only {refused} foreign flags tried");
}

/// Cargo's own flags, which the docs name beside softreg's.
const CARGO_FLAGS: [&str; 10] = [
    "--release",
    "--path",
    "--example",
    "--open",
    "--no-deps",
    "--document-private-items",
    "--bench",
    "--manifest-path",
    "--all",
    "--check",
];

/// Every `--flag` the README and the guide name is one that some softreg
/// command takes (or cargo's), so the docs cannot drift from `--help`.
#[test]
fn the_docs_name_only_flags_that_exist() {
    let commands = ["train", "sweep", "eval", "predict", "info", "bench", "tune"];
    let mut known: Vec<String> = CARGO_FLAGS.iter().map(|f| f.to_string()).collect();
    known.extend(["--help".to_string(), "--version".to_string()]);
    for command in commands {
        known.extend(flags_by_heading(command).into_iter().map(|(_, f, _)| f));
    }
    let root = env!("CARGO_MANIFEST_DIR");
    for doc in ["README.md", "docs/GUIDE.md"] {
        let text = std::fs::read_to_string(format!("{root}/{doc}")).unwrap();
        let bytes = text.as_bytes();
        let mut named = 0;
        for (at, _) in text.match_indices("--") {
            let before = at.checked_sub(1).map(|i| bytes[i]);
            let starts_word = before.is_none_or(|b| !(b.is_ascii_alphanumeric() || b == b'-'));
            let rest = &text[at + 2..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            if !starts_word || !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
                continue;
            }
            let flag = format!("--{}", name.trim_end_matches('-'));
            assert!(
                known.contains(&flag),
                "{doc} names {flag}, which no command takes"
            );
            named += 1;
        }
        assert!(named > 10, "{doc} names only {named} flags");
    }
}

/// `--optimizer` takes a spec: an optimizer with no flag of its own
/// (RMSprop) trains from its spec, its settings reach the model file, and
/// the sweep lists specs separated by `;`.
#[test]
fn an_optimizer_spec_trains_and_is_recorded() {
    let data = common::fashion_mnist_dir();
    let data = data.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.safetensors");
    let args = [
        "train",
        "--data",
        data,
        "--epochs",
        "1",
        "--lr",
        "0.001",
        "--optimizer",
        "rmsprop:alpha=0.9,momentum=0.5",
        "--save",
        model.to_str().unwrap(),
    ];
    let text = common::softreg_stdout(&args);
    assert!(text.contains("epoch 1, loss"), "{text}");
    let (_, info) = softreg::model_file::load(&model).unwrap();
    assert_eq!(info.training_setting("optimizer"), Some("rmsprop"));
    assert_eq!(info.training_setting("alpha"), Some("0.9"));
    assert_eq!(info.training_setting("momentum"), Some("0.5"));
    let args = [
        "sweep",
        "--data",
        data,
        "--epochs",
        "1",
        "--lr",
        "0.01",
        "--optimizer",
        "sgd:momentum=0.9;rmsprop",
        "--weight-decay",
        "0,1e-4",
    ];
    let text = common::softreg_stdout(&args);
    assert!(
        text.contains("4 models (sgd:momentum=0.9; rmsprop, 1 lr x 2 wd"),
        "{text}"
    );
    let refused = softreg(&["train", "--optimizer", "rmsprop:beta1=0.9"]);
    common::assert_refused(&refused, &"beta1", "rmsprop has no setting \"beta1\"");
}
