//! Suite specs: `LOADER:PATH[:KEY=VALUE,…]` for file loaders, `NAME[:KEY=VALUE,…]`
//! for built-in suites.
//!
//! Parameters follow the path after a final `:` (the same convention as
//! attack and judge specs), e.g. `csv:prompts.csv:text=prompt,expect=label`.
//! `LOADER:PATH,KEY=VALUE,…` is accepted too, because a path rarely contains
//! `,KEY=`; the first such comma ends the path.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteSpec {
    pub loader: String,
    /// Empty for built-in suites.
    pub path: String,
    pub params: BTreeMap<String, String>,
}

impl SuiteSpec {
    /// Parse a spec. `takes_path` says whether the loader named in it reads a
    /// file or folder (then the first segment after the name is the path).
    pub fn parse(spec: &str, takes_path: impl Fn(&str) -> bool) -> Result<SuiteSpec, String> {
        let spec = spec.trim();
        let (loader, rest) = match spec.split_once(':') {
            Some((l, r)) => (l.trim(), r),
            None => (spec, ""),
        };
        if loader.is_empty() {
            return Err(format!("suite spec `{spec}` has no loader name"));
        }
        let (path, params_str) = if !takes_path(loader) {
            ("", rest)
        } else if let Some((head, tail)) = rest.rsplit_once(':').filter(|(_, t)| is_param_list(t)) {
            (head, tail)
        } else if let Some(i) = first_param_comma(rest) {
            (&rest[..i], &rest[i + 1..])
        } else {
            (rest, "")
        };
        let mut params = BTreeMap::new();
        for kv in params_str.split(',').filter(|kv| !kv.trim().is_empty()) {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| format!("suite `{loader}`: parameter `{kv}` is not KEY=VALUE"))?;
            params.insert(k.trim().to_string(), v.trim().to_string());
        }
        Ok(SuiteSpec {
            loader: loader.to_string(),
            path: path.trim().to_string(),
            params,
        })
    }
}

fn is_key(k: &str) -> bool {
    !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_param_list(s: &str) -> bool {
    !s.trim().is_empty()
        && s.split(',')
            .filter(|kv| !kv.trim().is_empty())
            .all(|kv| kv.split_once('=').is_some_and(|(k, _)| is_key(k.trim())))
}

/// Byte index of the first `,` that starts a `KEY=` parameter.
fn first_param_comma(s: &str) -> Option<usize> {
    s.match_indices(',')
        .map(|(i, _)| i)
        .find(|&i| is_param_list(&s[i + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> SuiteSpec {
        SuiteSpec::parse(s, |l| l != "privacy").unwrap()
    }

    #[test]
    fn path_and_params() {
        let s = p("csv:data/x.csv:text=prompt,expect=label");
        assert_eq!((s.loader.as_str(), s.path.as_str()), ("csv", "data/x.csv"));
        assert_eq!(s.params["text"], "prompt");
        assert_eq!(s.params["expect"], "label");
        let s = p("vlguard:test.json,images=/data/img");
        assert_eq!(s.path, "test.json");
        assert_eq!(s.params["images"], "/data/img");
        let s = p("figstep:C:/d/safe,bench.csv");
        assert_eq!(s.path, "C:/d/safe,bench.csv");
        assert!(s.params.is_empty());
    }

    #[test]
    fn builtin_params() {
        let s = p("privacy:seed=3,n=10");
        assert_eq!(s.path, "");
        assert_eq!(s.params["seed"], "3");
        assert_eq!(p("privacy").params.len(), 0);
    }
}
