//! An optimizer's spec, `NAME[:KEY=VALUE,SWITCH,...]`, read and written
//! ([`std::str::FromStr`], [`std::fmt::Display`]), and what every
//! optimizer's settings give generically: reports, model files and
//! checkpoints read them through [`Optimizer::params`], so nothing here
//! names an optimizer.

use std::fmt;
use std::str::FromStr;

use super::optimizer::{Optimizer, OptimizerError, Param};

impl Optimizer {
    /// The optimizer called `name`, with PyTorch's defaults.
    pub fn named(name: &str) -> Result<Self, OptimizerError> {
        (Self::ALL.into_iter())
            .find(|o| o.name() == name)
            .ok_or_else(|| OptimizerError::Unknown(name.to_string()))
    }

    /// Every optimizer's name, for messages: `sgd, adam`.
    pub fn names() -> String {
        let names: Vec<&str> = Self::ALL.iter().map(Optimizer::name).collect();
        names.join(", ")
    }

    /// The value of setting `key`, if the optimizer has it.
    pub fn param(&self, key: &str) -> Option<Param> {
        self.params()
            .into_iter()
            .find(|&(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Whether the optimizer has setting `key`.
    pub fn has(&self, key: &str) -> bool {
        self.param(key).is_some()
    }

    /// The momentum factor, for an optimizer that has one.
    pub fn momentum(&self) -> Option<f32> {
        match self.param("momentum")? {
            Param::Number(v) => Some(v),
            Param::Switch(_) => None,
        }
    }

    /// Whether the momentum is Nesterov's.
    pub fn nesterov(&self) -> bool {
        self.param("nesterov") == Some(Param::Switch(true))
    }

    /// The L2 weight decay (0 for an optimizer without one).
    pub fn weight_decay(&self) -> f32 {
        match self.param("weight_decay") {
            Some(Param::Number(v)) => v,
            _ => 0.0,
        }
    }

    /// The name and every setting as (name, value) pairs, for a model's
    /// metadata and a checkpoint's identity.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        let params = self.params().into_iter().map(|(k, v)| (k, v.to_string()));
        [("optimizer", self.name().to_string())]
            .into_iter()
            .chain(params)
            .collect()
    }
}

impl FromStr for Optimizer {
    type Err = OptimizerError;

    /// `NAME[:KEY=VALUE,SWITCH,...]`: the optimizer called NAME with
    /// PyTorch's defaults but the settings listed.
    fn from_str(text: &str) -> Result<Self, OptimizerError> {
        let (name, list) = text.split_once(':').unwrap_or((text, ""));
        let mut optimizer = Self::named(name.trim())?;
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (key, value) = match item.split_once('=') {
                None => (item, Param::Switch(true)),
                Some((key, value)) => {
                    let number = value.trim().parse().map_err(|_| OptimizerError::BadValue {
                        key: key.trim().to_string(),
                        value: value.to_string(),
                        wanted: "a number",
                    })?;
                    (key.trim(), Param::Number(number))
                }
            };
            optimizer = optimizer.with(key, value)?;
        }
        Ok(optimizer)
    }
}

impl fmt::Display for Optimizer {
    /// The spec: the name, then every setting that differs from the default.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let defaults = Self::named(self.name()).expect("a named optimizer");
        let changed: Vec<String> = (self.params().into_iter())
            .zip(defaults.params())
            .filter(|(mine, default)| mine != default)
            .map(|((key, value), _)| match value {
                Param::Switch(true) => key.to_string(),
                _ => format!("{key}={value}"),
            })
            .collect();
        match changed.is_empty() {
            true => write!(f, "{}", self.name()),
            false => write!(f, "{}:{}", self.name(), changed.join(",")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Optimizer, OptimizerError, Param};

    /// Every optimizer's spec reads back to itself, its name alone is
    /// PyTorch's defaults, and each setting it names can be set by a spec.
    #[test]
    fn specs_read_and_write_every_optimizer() {
        for optimizer in Optimizer::ALL {
            let name = optimizer.name();
            assert_eq!(name.parse::<Optimizer>().unwrap(), optimizer);
            assert_eq!(optimizer.to_string(), name);
            for (key, value) in optimizer.params() {
                let changed = match value {
                    Param::Number(v) => Param::Number(v + 0.25),
                    Param::Switch(on) => Param::Switch(!on),
                };
                let set = optimizer.with(key, changed).unwrap();
                assert_eq!(set.param(key), Some(changed), "{name} {key}");
                assert_eq!(set.to_string().parse::<Optimizer>().unwrap(), set);
            }
        }
        let sgd: Optimizer = "sgd:momentum=0.9,nesterov,weight_decay=1e-4"
            .parse()
            .unwrap();
        let want = Optimizer::Sgd {
            momentum: 0.9,
            nesterov: true,
            weight_decay: 1e-4,
        };
        assert_eq!(sgd, want);
        assert_eq!(
            sgd.to_string(),
            "sgd:momentum=0.9,nesterov,weight_decay=0.0001"
        );
    }

    /// A spec that names no optimizer, a setting the optimizer lacks, or a
    /// value of the wrong kind is refused with the names to choose from.
    #[test]
    fn bad_specs_say_what_there_is() {
        let err = |spec: &str| spec.parse::<Optimizer>().unwrap_err();
        assert!(matches!(err("sdg"), OptimizerError::Unknown(_)));
        assert!(err("sdg").to_string().contains("sgd, adam, rmsprop"));
        let unknown = err("adam:momentum=0.9");
        assert!(
            unknown
                .to_string()
                .contains("beta1, beta2, eps, weight_decay"),
            "{unknown}"
        );
        assert!(matches!(
            err("sgd:momentum=fast"),
            OptimizerError::BadValue { .. }
        ));
        assert!(matches!(
            err("sgd:momentum"),
            OptimizerError::BadValue { .. }
        ));
        assert!(matches!(
            err("sgd:nesterov=1"),
            OptimizerError::BadValue { .. }
        ));
    }
}
