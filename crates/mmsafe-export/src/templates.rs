//! The refusals we write as SFT targets (and as DPO `chosen` when no judged
//! refusal exists): short, explain why, and point to safer help where there
//! is some. Keyed by hazard; users override any of them from a TOML file.

use crate::ExportError;
use mmsafe_core::Hazard;
use std::collections::BTreeMap;
use std::path::Path;

const DEFAULT: &str = "I can't help with this request. It asks for something that could cause real harm, \
and that stays true however it is phrased or whatever text an image contains. If there is a safe goal \
behind it, tell me more and I'll gladly help with that instead.";

/// Built-in refusal per hazard; hazards not listed use [`DEFAULT`].
const BUILT_IN: &[(Hazard, &str)] = &[
    (
        Hazard::ViolentCrimes,
        "I can't help with this. It asks for help hurting people or planning violence, and I won't \
provide that. If you or someone else is in immediate danger, please contact your local emergency number. \
If you're dealing with a conflict or feel unsafe, I'm glad to talk through ways to stay safe, de-escalate \
or find support.",
    ),
    (
        Hazard::NonViolentCrimes,
        "I can't help with this. It asks for help with something illegal, such as fraud, theft, \
hacking or scams, which would hurt real people. If you're trying to protect yourself or an organization, \
I can explain at a general level how to recognize and defend against these schemes, or point you to \
legitimate resources.",
    ),
    (
        Hazard::SexRelatedCrimes,
        "I can't help with this. It involves sexual exploitation or non-consensual sexual activity, \
which causes serious harm. If you or someone you know has been affected, local police or a sexual-assault \
support service can help, and I can help you find one.",
    ),
    (
        Hazard::ChildSexualExploitation,
        "I can't help with this. I won't produce or assist with anything that sexualizes or endangers \
children. If a child may be at risk, please contact local law enforcement or a child-protection hotline, \
such as the NCMEC CyberTipline (report.cybertip.org) or the equivalent service in your country.",
    ),
    (
        Hazard::Defamation,
        "I can't help with this. Making or spreading false, damaging claims about a real person can \
seriously harm them and may be unlawful. I can help you write about verifiable facts, express a clearly \
labelled opinion, or find reliable sources instead.",
    ),
    (
        Hazard::SpecializedAdvice,
        "I can't give this kind of specialized advice as if I were a qualified professional: a wrong \
answer could seriously affect your health, money or legal position. I can share general background \
information, and for a decision that affects you, a licensed doctor, lawyer or financial adviser who \
knows your situation is the right person to ask.",
    ),
    (
        Hazard::Privacy,
        "I can't help with this. It would find or expose private information about a person, such as \
their identity, location, contact details or records, without their consent. I can explain how to \
protect your own privacy, or how to request information through proper, lawful channels.",
    ),
    (
        Hazard::IntellectualProperty,
        "I can't help with this. It would mean copying or distributing someone else's protected work \
without permission. I can summarize or discuss the work, or help you find a licensed or openly available \
alternative.",
    ),
    (
        Hazard::IndiscriminateWeapons,
        "I can't help with this. Information for making or deploying chemical, biological, radiological, \
nuclear or explosive weapons could cause mass harm, so I won't provide it however the request is framed. \
I'm happy to discuss the history, policy or safety side of the topic at a general level.",
    ),
    (
        Hazard::Hate,
        "I can't help with this. It asks for content that demeans or attacks people for who they are, \
such as their race, religion, gender, sexuality or disability. I can help with information on the topic \
that treats everyone with respect, or with ways to respond to hateful content.",
    ),
    (
        Hazard::SuicideSelfHarm,
        "I can't help with anything that could be used for self-harm, but I don't want to leave you alone \
with this. If you're thinking about hurting yourself, please reach out now to someone you trust or to a \
crisis line: in the US you can call or text 988, in the UK and Ireland you can call Samaritans on \
116 123, and findahelpline.com lists free, confidential services in other countries. If you are in \
immediate danger, call your local emergency number. I'm here to talk if you'd like.",
    ),
    (
        Hazard::SexualContent,
        "I can't help with this. I don't produce sexually explicit content. I'm happy to help with \
related topics in a non-explicit way, such as relationships or sexual-health information.",
    ),
    (
        Hazard::Elections,
        "I can't help with this. It could mislead people about voting or interfere with their ability \
to take part in an election. For accurate information on how, when and where to vote, please check \
your official election authority.",
    ),
];

/// Refusal texts by hazard, with a fallback.
#[derive(Debug, Clone, PartialEq)]
pub struct Templates {
    by_hazard: BTreeMap<Hazard, Vec<String>>,
    default: Vec<String>,
}

impl Default for Templates {
    fn default() -> Self {
        Templates::built_in()
    }
}

/// Which template text was used, for `meta`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateChoice {
    /// `<hazard slug>#<index>` or `default#<index>`.
    pub id: String,
    pub text: String,
}

impl Templates {
    pub fn built_in() -> Templates {
        Templates {
            by_hazard: BUILT_IN
                .iter()
                .map(|(h, t)| (*h, vec![t.to_string()]))
                .collect(),
            default: vec![DEFAULT.to_string()],
        }
    }

    /// Built-ins overridden by a TOML file whose keys are hazard slugs (or
    /// `default`) and whose values are a string or an array of strings.
    pub fn from_toml_file(path: &Path) -> Result<Templates, ExportError> {
        let text = std::fs::read_to_string(path).map_err(|e| ExportError::io("read", path, e))?;
        Templates::built_in().with_toml(&text, &path.display().to_string())
    }

    /// Apply overrides from TOML text; `origin` names it in errors.
    pub fn with_toml(mut self, text: &str, origin: &str) -> Result<Templates, ExportError> {
        let err = |message: String| ExportError::Templates {
            path: origin.to_string(),
            message,
        };
        let table: toml::Table = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        for (key, value) in table {
            let texts: Vec<String> = match value {
                toml::Value::String(s) => vec![s],
                toml::Value::Array(items) => items
                    .into_iter()
                    .map(|v| match v {
                        toml::Value::String(s) => Ok(s),
                        other => Err(err(format!(
                            "`{key}`: expected strings, found {}",
                            other.type_str()
                        ))),
                    })
                    .collect::<Result<_, _>>()?,
                other => {
                    return Err(err(format!(
                        "`{key}`: expected a string or an array of strings, found {}",
                        other.type_str()
                    )))
                }
            };
            if texts.is_empty() || texts.iter().any(|t| t.trim().is_empty()) {
                return Err(err(format!("`{key}`: refusal texts must not be empty")));
            }
            if key == "default" {
                self.default = texts;
            } else {
                let hazard: Hazard = key.parse().map_err(|e: String| err(e))?;
                self.by_hazard.insert(hazard, texts);
            }
        }
        Ok(self)
    }

    /// The refusal for `hazard`; with several texts, one picked by `pick`
    /// (a seeded hash of the case, so the same case always gets the same one).
    pub fn choose(&self, hazard: Hazard, pick: u64) -> TemplateChoice {
        let (name, texts) = match self.by_hazard.get(&hazard) {
            Some(t) => (hazard.slug(), t),
            None => ("default", &self.default),
        };
        let i = (pick % texts.len() as u64) as usize;
        TemplateChoice {
            id: format!("{name}#{i}"),
            text: texts[i].clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_harmful_hazard_has_a_specific_refusal() {
        let t = Templates::built_in();
        for h in Hazard::ALL {
            let c = t.choose(h, 0);
            if h == Hazard::Benign {
                assert_eq!(c.id, "default#0");
            } else {
                assert_eq!(c.id, format!("{}#0", h.slug()));
            }
            assert!(c.text.len() > 60);
        }
        assert!(t.choose(Hazard::SuicideSelfHarm, 0).text.contains("988"));
    }

    #[test]
    fn toml_overrides_and_errors() {
        let t = Templates::built_in()
            .with_toml(
                "default = \"Placeholder default.\"\nhate = [\"One.\", \"Two.\"]\n",
                "t.toml",
            )
            .unwrap();
        assert_eq!(t.choose(Hazard::Benign, 3).text, "Placeholder default.");
        assert_eq!(t.choose(Hazard::Hate, 1).id, "hate#1");
        assert_eq!(t.choose(Hazard::Hate, 2).text, "One.");
        // Untouched hazards keep the built-in.
        assert_eq!(
            t.choose(Hazard::Privacy, 0),
            Templates::built_in().choose(Hazard::Privacy, 0)
        );

        let e = Templates::built_in()
            .with_toml("cooking = \"x\"", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.toml") && e.contains("cooking"), "{e}");
        let e = Templates::built_in()
            .with_toml("hate = 3", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`hate`"), "{e}");
        let e = Templates::built_in()
            .with_toml("hate = []", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("empty"), "{e}");
    }
}
