//! `mmsafe attack NAME --input FILE --out DIR [--seed S] [--column C]`:
//! materialize attacked cases (images + `manifest.jsonl`); `mmsafe attack list
//! [--json]`: every registered attack with its parameters. Names starting with
//! `adversarial:` are handed, with their remaining words, to
//! `cmd::attack_adversarial`.

use crate::exit::Outcome;
use anyhow::Context as _;
use clap::Parser;
use mmsafe_core::seed;
use std::io::Write;
use std::path::PathBuf;

// Clap's own `--help` would answer `mmsafe attack figstep --help` with this
// generic help; the flag is handled here so it reaches the attack's parser.
#[derive(clap::Args, Debug)]
#[command(disable_help_flag = true)]
pub struct AttackArgs {
    /// `list`, or an attack spec: `figstep`, `inject:corner:size=12`,
    /// `template:roleplay+figstep`, `adversarial:<mode>` …
    name: Option<String>,
    /// Print help (after NAME: that attack's flags and parameters).
    #[arg(short = 'h', long = "help", action = clap::ArgAction::SetTrue)]
    help: bool,
    /// For an attack: --input FILE --out DIR [--seed S] [--column C].
    /// For `list`: [--json].
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    rest: Vec<String>,
}

#[derive(Parser, Debug)]
#[command(
    name = "mmsafe attack list",
    about = "List every attack with its parameters and defaults"
)]
struct ListArgs {
    /// `{"attacks": [{"name", "summary", "params": [{"name", "default", "help"}]}]}`
    #[arg(long)]
    json: bool,
}

#[derive(Parser, Debug)]
#[command(about = "Write attacked cases: images (PNG) and manifest.jsonl")]
struct MaterializeArgs {
    /// Cases: .csv (header row), .jsonl, or plain text (one per line).
    #[arg(long)]
    input: PathBuf,
    /// Output directory (created).
    #[arg(long)]
    out: PathBuf,
    /// Run seed; each case gets a seed derived from it and the case id.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Text column (CSV) or field (JSONL); default: question, prompt, text, goal, instruction.
    #[arg(long)]
    column: Option<String>,
}

pub fn run(args: AttackArgs) -> anyhow::Result<Outcome> {
    let Some(name) = args.name else {
        let mut cmd = <crate::Cli as clap::CommandFactory>::command();
        let attack = cmd.find_subcommand_mut("attack").map(|c| {
            c.clone()
                .bin_name("mmsafe attack")
                .after_help("Run `mmsafe attack NAME --help` for an attack's flags.")
        });
        let Some(mut attack) = attack else {
            anyhow::bail!("internal: the `attack` subcommand is not registered");
        };
        if args.help {
            attack.print_help()?;
            return Ok(Outcome::Ok);
        }
        attack
            .error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "NAME is required: `list` or an attack spec",
            )
            .exit()
    };
    let mut rest = args.rest;
    if args.help {
        rest.insert(0, "--help".to_string());
    }
    if name.starts_with("adversarial:") {
        return crate::cmd::attack_adversarial::run(&name, &rest);
    }
    if name == "list" {
        let list = parse_or_exit::<ListArgs>("mmsafe attack list", &rest, None);
        return list_attacks(list.json);
    }
    let m = parse_or_exit::<MaterializeArgs>(
        &format!("mmsafe attack {name}"),
        &rest,
        params_help(&name),
    );
    materialize(&name, m)
}

/// Clap parse of the words after NAME; usage errors and `--help` exit as clap
/// does. `after_help` is appended to the help text.
fn parse_or_exit<T: Parser>(bin: &str, rest: &[String], after_help: Option<String>) -> T {
    let argv = std::iter::once(bin.to_string()).chain(rest.iter().cloned());
    let mut cmd = <T as clap::CommandFactory>::command().bin_name(bin.to_string());
    if let Some(h) = after_help {
        cmd = cmd.after_help(h);
    }
    cmd.try_get_matches_from(argv)
        .and_then(|m| <T as clap::FromArgMatches>::from_arg_matches(&m))
        .unwrap_or_else(|e| e.exit())
}

/// The parameters of each attack in a spec (for `--help`); `None` when the
/// spec does not name known attacks (the build reports that properly).
fn params_help(spec: &str) -> Option<String> {
    let ctx = crate::wiring::attacks::build_ctx().ok()?;
    let all = mmsafe_attack::registry(&ctx);
    let mut out = String::new();
    for step in spec.split('+') {
        let name = step.trim().split(':').take(2).collect::<Vec<_>>();
        // `inject:corner:size=1` names `inject:corner`; `figstep:size=1` names `figstep`.
        let entry = all
            .iter()
            .find(|a| name.len() == 2 && a.name == format!("{}:{}", name[0], name[1]))
            .or_else(|| all.iter().find(|a| a.name == name[0]))?;
        out.push_str(&format!(
            "Parameters of {} ({}:key=value,…):\n",
            entry.name, entry.name
        ));
        for p in entry.params {
            let kv = format!("{}={}", p.name, p.default);
            out.push_str(&format!("  {kv:<28} {}\n", p.help));
        }
    }
    Some(out)
}

fn list_attacks(json: bool) -> anyhow::Result<Outcome> {
    let ctx = crate::wiring::attacks::build_ctx()?;
    let specs = mmsafe_attack::registry(&ctx);
    let mut out = std::io::stdout().lock();
    if json {
        let attacks: Vec<_> = specs.iter().map(|s| s.info()).collect();
        let adversarial: Vec<_> = ADVERSARIAL
            .iter()
            .map(|(name, summary)| serde_json::json!({"name": name, "summary": summary}))
            .collect();
        serde_json::to_writer_pretty(
            &mut out,
            &serde_json::json!({ "attacks": attacks, "adversarial": adversarial }),
        )?;
        writeln!(out)?;
        return Ok(Outcome::Ok);
    }
    for s in &specs {
        let seeded = if s.uses_seed { " (seeded)" } else { "" };
        writeln!(out, "{}{seeded}\n    {}", s.name, s.summary)?;
        for p in s.params {
            let kv = format!("{}={}", p.name, p.default);
            writeln!(out, "      {kv:<28} {}", p.help)?;
        }
    }
    writeln!(
        out,
        "\n{} attacks. Chain with `+`: template:roleplay+figstep",
        specs.len()
    )?;
    writeln!(
        out,
        "\nGradient attacks on surrogate encoders (materialize only; see `mmsafe attack adversarial:<mode> --help`):"
    )?;
    for (name, summary) in ADVERSARIAL {
        writeln!(out, "{name}\n    {summary}")?;
    }
    Ok(Outcome::Ok)
}

/// Optimization-based attacks: they need a surrogate model and minutes of
/// compute per image, so they are materialized to disk rather than run per case
/// inside a scan (scan the result with `--suite manifest:DIR`).
const ADVERSARIAL: [(&str, &str); 3] = [
    (
        "adversarial:embed-text",
        "PGD/Adam on pixels so a CLIP surrogate embeds the image near a target text (AttackVLM MF-it)",
    ),
    (
        "adversarial:embed-image",
        "PGD/Adam so the image embeds near a target image, e.g. a typographic phrase (MF-ii, Jailbreak in Pieces)",
    ),
    (
        "adversarial:untargeted",
        "PGD/Adam pushing the embedding away from the clean image's (Dong et al.)",
    ),
];

fn materialize(name: &str, args: MaterializeArgs) -> anyhow::Result<Outcome> {
    let attack = crate::wiring::attacks::build_attack(name)?;
    let cases = mmsafe_attack::input::read_cases(&args.input, args.column.as_deref())?;
    let mut writer = mmsafe_attack::materialize::Writer::create(&args.out)
        .with_context(|| format!("cannot create output directory {}", args.out.display()))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    for case in &cases {
        let case_seed = seed::derive(args.seed, &[&case.id]);
        let produced = rt
            .block_on(attack.apply(case, case_seed))
            .with_context(|| format!("case `{}`", case.id))?;
        for c in &produced {
            writer
                .write(c)
                .with_context(|| format!("writing to {}", args.out.display()))?;
        }
    }
    let (n_cases, n_images) = (writer.cases, writer.images);
    writer
        .finish()
        .with_context(|| format!("writing {}/manifest.jsonl", args.out.display()))?;
    eprintln!(
        "{}: {} input cases -> {} cases, {} new images in {}",
        attack.name(),
        cases.len(),
        n_cases,
        n_images,
        args.out.display()
    );
    Ok(Outcome::Ok)
}
