//! Plugin specs on the command line: `NAME` or `NAME:key=value,key=value`.
//!
//! Names may themselves contain colons (`inject:corner`, `template:roleplay`,
//! `text:base64`); the parameter list is the last `:`-segment when it contains
//! `=`. Every plugin declares its parameters as [`ParamSpec`]s, which gives
//! `list` output, defaults and "did you mean" errors in one place.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// One declared parameter of a plugin.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ParamSpec {
    pub name: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

impl ParamSpec {
    pub const fn new(name: &'static str, default: &'static str, help: &'static str) -> ParamSpec {
        ParamSpec {
            name,
            default,
            help,
        }
    }
}

/// A parsed spec: plugin name and the raw parameter values given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub name: String,
    pub params: BTreeMap<String, String>,
}

impl Spec {
    pub fn parse(s: &str) -> Result<Spec, ParamsError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(ParamsError::new(s, "empty name"));
        }
        let (name, params_str) = match s.rsplit_once(':') {
            Some((head, tail)) if tail.contains('=') => (head, Some(tail)),
            _ => (s, None),
        };
        let mut params = BTreeMap::new();
        if let Some(ps) = params_str {
            for kv in ps.split(',').filter(|kv| !kv.trim().is_empty()) {
                let (k, v) = kv.split_once('=').ok_or_else(|| {
                    ParamsError::new(name, format!("parameter `{kv}` is not key=value"))
                })?;
                params.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
        Ok(Spec {
            name: name.to_string(),
            params,
        })
    }
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if !self.params.is_empty() {
            let ps: Vec<String> = self
                .params
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            write!(f, ":{}", ps.join(","))?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{plugin}`: {message}")]
pub struct ParamsError {
    pub plugin: String,
    pub message: String,
}

impl ParamsError {
    pub fn new(plugin: impl Into<String>, message: impl Into<String>) -> ParamsError {
        ParamsError {
            plugin: plugin.into(),
            message: message.into(),
        }
    }
}

/// Parameter values resolved against a plugin's declared [`ParamSpec`]s:
/// unknown keys are rejected (with a suggestion), missing keys take defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    plugin: String,
    values: BTreeMap<String, String>,
}

impl Params {
    pub fn resolve(
        plugin: &str,
        given: &BTreeMap<String, String>,
        specs: &[ParamSpec],
    ) -> Result<Params, ParamsError> {
        for key in given.keys() {
            if !specs.iter().any(|p| p.name == key) {
                let names: Vec<&str> = specs.iter().map(|p| p.name).collect();
                let hint = match did_you_mean(key, &names) {
                    Some(s) => format!(" (did you mean `{s}`?)"),
                    None => String::new(),
                };
                let valid = if names.is_empty() {
                    "it takes no parameters".to_string()
                } else {
                    format!("valid: {}", names.join(", "))
                };
                return Err(ParamsError::new(
                    plugin,
                    format!("unknown parameter `{key}`{hint}; {valid}"),
                ));
            }
        }
        let mut values = BTreeMap::new();
        for p in specs {
            let v = given
                .get(p.name)
                .cloned()
                .unwrap_or_else(|| p.default.to_string());
            values.insert(p.name.to_string(), v);
        }
        Ok(Params {
            plugin: plugin.to_string(),
            values,
        })
    }

    /// All resolved values (given and defaults), for provenance.
    pub fn values(&self) -> &BTreeMap<String, String> {
        &self.values
    }

    pub fn str(&self, key: &str) -> &str {
        self.values.get(key).map(String::as_str).unwrap_or("")
    }

    /// Parse a value; the error names the plugin, the key and the value.
    pub fn get<T: FromStr>(&self, key: &str) -> Result<T, ParamsError>
    where
        T::Err: fmt::Display,
    {
        let raw = self.str(key);
        raw.parse::<T>()
            .map_err(|e| ParamsError::new(&self.plugin, format!("parameter `{key}`=`{raw}`: {e}")))
    }

    /// A number that may be written as a fraction, e.g. `16/255`.
    pub fn fraction(&self, key: &str) -> Result<f64, ParamsError> {
        parse_fraction(self.str(key))
            .map_err(|e| ParamsError::new(&self.plugin, format!("parameter `{key}`: {e}")))
    }

    pub fn bool(&self, key: &str) -> Result<bool, ParamsError> {
        match self.str(key).to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" | "" => Ok(false),
            other => Err(ParamsError::new(
                &self.plugin,
                format!("parameter `{key}`=`{other}` is not a boolean"),
            )),
        }
    }
}

/// Parse `0.1`, `16/255` or `8`.
pub fn parse_fraction(s: &str) -> Result<f64, String> {
    let s = s.trim();
    let v = match s.split_once('/') {
        Some((a, b)) => {
            let a: f64 = a
                .trim()
                .parse()
                .map_err(|_| format!("`{s}` is not a number"))?;
            let b: f64 = b
                .trim()
                .parse()
                .map_err(|_| format!("`{s}` is not a number"))?;
            if b == 0.0 {
                return Err(format!("`{s}` divides by zero"));
            }
            a / b
        }
        None => s.parse().map_err(|_| format!("`{s}` is not a number"))?,
    };
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("`{s}` is not finite"))
    }
}

/// The closest candidate by edit distance, when it is close enough to be a typo.
pub fn did_you_mean<'a>(given: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (levenshtein(given, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names_with_colons() {
        let s = Spec::parse("inject:corner:size=12,opacity=0.5").unwrap();
        assert_eq!(s.name, "inject:corner");
        assert_eq!(s.params["size"], "12");
        let s = Spec::parse("template:roleplay").unwrap();
        assert_eq!(s.name, "template:roleplay");
        assert!(s.params.is_empty());
        assert_eq!(
            Spec::parse("figstep:font_size=60").unwrap().to_string(),
            "figstep:font_size=60"
        );
    }

    #[test]
    fn unknown_param_suggests() {
        const P: &[ParamSpec] = &[ParamSpec::new("font_size", "80", "px")];
        let given = Spec::parse("figstep:fontsize=3").unwrap().params;
        let err = Params::resolve("figstep", &given, P).unwrap_err();
        assert!(
            err.to_string().contains("did you mean `font_size`"),
            "{err}"
        );
        let ok = Params::resolve("figstep", &BTreeMap::new(), P).unwrap();
        assert_eq!(ok.get::<u32>("font_size").unwrap(), 80);
    }

    #[test]
    fn fractions() {
        assert!((parse_fraction("16/255").unwrap() - 16.0 / 255.0).abs() < 1e-12);
        assert!(parse_fraction("1/0").is_err());
        assert!(parse_fraction("x").is_err());
    }
}
