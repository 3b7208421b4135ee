//! `mmsafe bench local`: speed of the offline models on this machine —
//! SmolLM2 prompt and generation tokens/s (with llama.cpp's `llama-bench` on
//! the same GGUF as the reference when it is on PATH), MiniLM embeddings/s at
//! batch 32, PP-OCRv5 ms per 760×760 FigStep image, and the shipped
//! `classifier` judge's milliseconds per (request, reply) pair.

use super::cpu_seconds;
use crate::exit::Outcome;
use anyhow::Context as _;
use mmsafe_core::{Embedder, Image, Ocr};
use mmsafe_local::llm::{chatml, ChatRole, GenParams, Llm};
use mmsafe_local::models::{catalog, Manager};
use mmsafe_local::Compute;
use std::io::Write as _;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Compute threads (1 is the right choice on a busy machine).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Timed repetitions of each measurement (the median is reported).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Tokens to generate per LLM repetition.
    #[arg(long, default_value_t = 128)]
    gen_tokens: usize,
    /// Only these parts (comma-separated): llm, embed, ocr, classifier.
    #[arg(long, default_value = "llm,embed,ocr,classifier")]
    only: String,
    #[arg(long)]
    json: bool,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Measures `f` (after one warm-up) `reps` times: median wall seconds and mean CPU seconds.
fn timed<T>(
    reps: usize,
    mut f: impl FnMut() -> anyhow::Result<T>,
) -> anyhow::Result<(f64, f64, T)> {
    let mut last = f()?;
    let mut walls = Vec::new();
    let c0 = cpu_seconds();
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        last = f()?;
        walls.push(t.elapsed().as_secs_f64());
    }
    let cpu = match (c0, cpu_seconds()) {
        (Some(a), Some(b)) => (b - a) / reps.max(1) as f64,
        _ => f64::NAN,
    };
    Ok((median(walls), cpu, last))
}

fn model_dir(name: &str) -> anyhow::Result<std::path::PathBuf> {
    let spec = catalog::find(name).context("catalog")?;
    Ok(Manager::from_env()?.require(&spec)?)
}

const BENCH_PROMPT: &str = "[Text in image 1]\nSteps to plan a\nbudget for a\nfamily vacation.\n1.\n2.\n3.\n[End of image 1]\n\nThis picture contains a numbered list (1, 2, 3) whose entries are blank. Write out each of the missing entries in full detail, about 100 words for every entry.";

fn bench_llm(a: &Args) -> anyhow::Result<serde_json::Value> {
    let path = model_dir(catalog::SMOLLM2)?.join(catalog::SMOLLM2_GGUF);
    let t = Instant::now();
    let llm = Llm::load(&path, Compute::new(a.threads))?;
    let load_s = t.elapsed().as_secs_f64();
    let prompt = chatml(&[(ChatRole::User, BENCH_PROMPT.into())]);
    // Repetition penalty off and EOS far away: a steady token stream to time.
    let p = GenParams {
        max_tokens: a.gen_tokens,
        repeat_penalty: 1.0,
        ..GenParams::default()
    };
    let mut prompt_tps = Vec::new();
    let mut gen_tps = Vec::new();
    let mut cpu_per_gen_token = Vec::new();
    let mut counts = (0, 0);
    llm.generate(&prompt, &p)?; // warm-up
    for _ in 0..a.reps.max(1) {
        let c0 = cpu_seconds();
        let g = llm.generate(&prompt, &p)?;
        let c1 = cpu_seconds();
        prompt_tps.push(g.prompt_tokens as f64 / g.prompt_secs);
        gen_tps.push(g.completion_tokens as f64 / g.gen_secs.max(1e-9));
        if let (Some(c0), Some(c1)) = (c0, c1) {
            cpu_per_gen_token
                .push((c1 - c0) / (g.prompt_tokens + g.completion_tokens).max(1) as f64);
        }
        counts = (g.prompt_tokens, g.completion_tokens);
    }
    let llama = llama_cpp_reference(&path, a.threads, counts.0, counts.1.max(1));
    Ok(serde_json::json!({
        "model": path,
        "threads": a.threads,
        "load_s": load_s,
        "prompt_tokens": counts.0,
        "generated_tokens": counts.1,
        "prompt_tok_per_s": median(prompt_tps),
        "gen_tok_per_s": median(gen_tps),
        "cpu_s_per_token": median(cpu_per_gen_token),
        "llama_cpp": llama,
    }))
}

/// `llama-bench` on the same file, when installed; otherwise why not.
fn llama_cpp_reference(
    path: &std::path::Path,
    threads: usize,
    p: usize,
    n: usize,
) -> serde_json::Value {
    let out = std::process::Command::new("llama-bench")
        .arg("-m")
        .arg(path)
        .args([
            "-t",
            &threads.to_string(),
            "-p",
            &p.to_string(),
            "-n",
            &n.to_string(),
            "-o",
            "json",
        ])
        .output();
    let out = match out {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            return serde_json::json!({"available": false, "reason": format!("llama-bench exited with {}", o.status)})
        }
        Err(e) => {
            return serde_json::json!({"available": false, "reason": format!("llama-bench not runnable: {e}")})
        }
    };
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let pick = |key: &str| {
        rows.iter()
            .find(|r| r[key].as_u64().unwrap_or(0) > 0)
            .and_then(|r| r["avg_ts"].as_f64())
    };
    serde_json::json!({"available": true, "prompt_tok_per_s": pick("n_prompt"), "gen_tok_per_s": pick("n_gen")})
}

fn bench_embed(a: &Args) -> anyhow::Result<serde_json::Value> {
    let dir = model_dir(catalog::MINILM)?;
    let e = mmsafe_local::embed::MiniLm::load(&dir, Compute::new(a.threads))?;
    // The quick suite's questions: realistic lengths (never printed).
    let qs: Vec<String> = mmsafe_data::quick::cases()
        .iter()
        .map(|c| c.prompt_text())
        .collect();
    let batch: Vec<&str> = qs
        .iter()
        .cycle()
        .take(mmsafe_local::embed::BATCH)
        .map(String::as_str)
        .collect();
    let (wall, cpu, _) = timed(a.reps, || Ok(e.embed(&batch)?))?;
    Ok(serde_json::json!({
        "batch": batch.len(),
        "sentences_per_s": batch.len() as f64 / wall,
        "sentences_per_cpu_s": batch.len() as f64 / cpu,
    }))
}

/// The shipped cross-encoder on quick-suite questions paired with a short
/// and a window-filling reply (a neutral paragraph, never printed).
fn bench_classifier(a: &Args) -> anyhow::Result<serde_json::Value> {
    use mmsafe_core::PairScorer as _;
    let dir = model_dir(catalog::MINILM)?;
    let model = mmsafe_local::cross::CrossEncoder::load(
        &dir,
        mmsafe_judge::classifier::SHIPPED_CROSS_ENCODER,
        "assets/classifier.safetensors (shipped)",
        Compute::new(a.threads),
    )?;
    let qs: Vec<String> = mmsafe_data::quick::cases()
        .iter()
        .take(16)
        .map(|c| c.prompt_text())
        .collect();
    let short = "Here is a short overview of the topic, with the main points.".to_string();
    let sentence = "The committee met on Tuesday to review the quarterly figures for the library, \
                the park and the community centre, and agreed to publish the minutes. ";
    let medium = sentence.repeat(1200 / sentence.len());
    let long = sentence.repeat(4000 / sentence.len());
    let mut figures = serde_json::Map::new();
    for (name, reply) in [
        ("short_reply", &short),
        ("reply_1200_chars", &medium),
        ("reply_4000_chars", &long),
    ] {
        let pairs: Vec<(&str, &str)> = qs.iter().map(|q| (q.as_str(), reply.as_str())).collect();
        let (wall, cpu, _) = timed(a.reps, || {
            for p in &pairs {
                model.score(std::slice::from_ref(p))?;
            }
            Ok(())
        })?;
        figures.insert(
            name.into(),
            serde_json::json!({
                "ms_per_pair": 1000.0 * wall / pairs.len() as f64,
                "cpu_ms_per_pair": 1000.0 * cpu / pairs.len() as f64,
            }),
        );
    }
    figures.insert("pairs".into(), qs.len().into());
    Ok(serde_json::Value::Object(figures))
}

fn bench_ocr(a: &Args) -> anyhow::Result<serde_json::Value> {
    let dir = model_dir(catalog::PPOCR)?;
    let ocr = mmsafe_local::ocr::PaddleOcr::load(&dir, Compute::new(a.threads))?;
    let renderer = mmsafe_attack::FigStepRenderer::standard()?;
    // FigStep renders of the quick suite's 100 instructions (never printed):
    // accuracy over all of them, speed as the median over all of them.
    let texts: Vec<String> = mmsafe_data::quick::cases()
        .iter()
        .filter_map(|c| c.metadata.get("instruction")?.as_str().map(str::to_string))
        .collect();
    let images: Vec<(String, Image)> = texts
        .into_iter()
        .map(|t| {
            let png = renderer.render_png(&t)?;
            Ok((t, Image::png(png)))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut walls = Vec::new();
    let mut hits = 0usize;
    let mut words = 0usize;
    let mut exact = 0usize;
    if let Some((_, first)) = images.first() {
        ocr.read_text(first)?; // warm-up
    }
    let c0 = cpu_seconds();
    for (text, img) in &images {
        let t = Instant::now();
        let read = ocr.read_text(img)?;
        walls.push(t.elapsed().as_secs_f64());
        // FigStep's wrap splits hyphenated words across lines; rejoin them.
        let mut got: Vec<String> = norm_words(&read.replace("-\n", "-"));
        let want = norm_words(text);
        let before = hits;
        for w in &want {
            words += 1;
            if let Some(i) = got.iter().position(|g| g == w) {
                got.remove(i);
                hits += 1;
            }
        }
        if hits - before == want.len() {
            exact += 1;
        }
    }
    let cpu = match (c0, cpu_seconds()) {
        (Some(a), Some(b)) => (b - a) / images.len().max(1) as f64,
        _ => f64::NAN,
    };
    Ok(serde_json::json!({
        "images": images.len(),
        "image": "760x760 FigStep renders of the quick suite's instructions",
        "font": renderer.font.source().to_string(),
        "ms_per_image": median(walls) * 1000.0,
        "cpu_ms_per_image": cpu * 1000.0,
        "word_accuracy": hits as f64 / words.max(1) as f64,
        "images_all_words_read": exact,
        "det_fast_side": ocr.params().det_fast_side,
    }))
}

fn norm_words(s: &str) -> Vec<String> {
    s.split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric())
                .collect::<String>()
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let mut out = std::io::stdout().lock();
    let parts: Vec<&str> = args.only.split(',').map(str::trim).collect();
    let mut report = serde_json::Map::new();
    if parts.contains(&"llm") {
        let r = bench_llm(&args).context("SmolLM2 benchmark")?;
        if !args.json {
            writeln!(
                out,
                "smollm2 ({} thread(s)): prompt {:.1} tok/s ({} tokens), generation {:.1} tok/s ({} tokens), {:.4} CPU-s/token, load {:.2} s",
                args.threads,
                r["prompt_tok_per_s"].as_f64().unwrap_or(f64::NAN),
                r["prompt_tokens"],
                r["gen_tok_per_s"].as_f64().unwrap_or(f64::NAN),
                r["generated_tokens"],
                r["cpu_s_per_token"].as_f64().unwrap_or(f64::NAN),
                r["load_s"].as_f64().unwrap_or(f64::NAN),
            )?;
            match r["llama_cpp"]["available"].as_bool() {
                Some(true) => writeln!(
                    out,
                    "llama.cpp reference: prompt {} tok/s, generation {} tok/s",
                    r["llama_cpp"]["prompt_tok_per_s"], r["llama_cpp"]["gen_tok_per_s"]
                )?,
                _ => writeln!(
                    out,
                    "llama.cpp reference: not available ({})",
                    r["llama_cpp"]["reason"].as_str().unwrap_or("unknown")
                )?,
            }
        }
        report.insert("smollm2".into(), r);
    }
    if parts.contains(&"embed") {
        let r = bench_embed(&args).context("MiniLM benchmark")?;
        if !args.json {
            writeln!(
                out,
                "all-minilm-l6-v2: {:.1} sentences/s at batch {} ({:.1} per CPU-s)",
                r["sentences_per_s"].as_f64().unwrap_or(f64::NAN),
                r["batch"],
                r["sentences_per_cpu_s"].as_f64().unwrap_or(f64::NAN)
            )?;
        }
        report.insert("embeddings".into(), r);
    }
    if parts.contains(&"ocr") {
        let r = bench_ocr(&args).context("OCR benchmark")?;
        if !args.json {
            writeln!(
                out,
                "ppocr-v5-mobile: {:.0} ms per 760x760 image ({:.0} CPU-ms), word accuracy {:.3} over {} FigStep images ({} read completely)",
                r["ms_per_image"].as_f64().unwrap_or(f64::NAN),
                r["cpu_ms_per_image"].as_f64().unwrap_or(f64::NAN),
                r["word_accuracy"].as_f64().unwrap_or(f64::NAN),
                r["images"],
                r["images_all_words_read"]
            )?;
        }
        report.insert("ocr".into(), r);
    }
    if parts.contains(&"classifier") {
        let r = bench_classifier(&args).context("classifier benchmark")?;
        if !args.json {
            let ms = |k: &str, f: &str| r[k][f].as_f64().unwrap_or(f64::NAN);
            writeln!(
                out,
                "classifier (cross-encoder), one pair at a time: {:.1} ms with a short reply, {:.1} ms with 1,200 characters (one full window), {:.1} ms with 4,000 characters ({} windows); CPU-ms {:.1} / {:.1} / {:.1}",
                ms("short_reply", "ms_per_pair"),
                ms("reply_1200_chars", "ms_per_pair"),
                ms("reply_4000_chars", "ms_per_pair"),
                mmsafe_local::cross::WINDOWS,
                ms("short_reply", "cpu_ms_per_pair"),
                ms("reply_1200_chars", "cpu_ms_per_pair"),
                ms("reply_4000_chars", "cpu_ms_per_pair"),
            )?;
        }
        report.insert("classifier".into(), r);
    }
    if args.json {
        writeln!(out, "{}", serde_json::Value::Object(report))?;
    }
    Ok(Outcome::Ok)
}
