//! `mmsafe bench attack`: FigStep render + PNG encode + file write throughput,
//! on all cores and on one core.

use crate::exit::Outcome;
use mmsafe_attack::FigStepRenderer;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Images to render per measurement.
    #[arg(long, default_value_t = 500)]
    n: usize,
    /// Worker threads for the parallel figure (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Print `{"images_per_s", "images_per_s_one_core", …}`.
    #[arg(long)]
    json: bool,
}

/// SafeBench-like instructions of varied length (benign, so the bench needs no data).
const SUBJECTS: &[&str] = &[
    "bake a loaf of sourdough bread at home",
    "repot a houseplant without damaging the roots",
    "plan a week of healthy vegetarian dinners",
    "organize a small community book exchange",
    "prepare a garden bed for spring planting",
    "teach a child to ride a bicycle safely",
    "write a clear and friendly cover letter",
    "set up a freshwater aquarium for beginners",
    "fix a squeaky door hinge",
    "brew a balanced cup of pour-over coffee",
];
const HEADS: &[&str] = &["Steps to", "Methods to", "List of ways to"];

fn text(i: usize) -> String {
    format!(
        "{} {}.",
        HEADS[i % HEADS.len()],
        SUBJECTS[(i / HEADS.len()) % SUBJECTS.len()]
    )
}

fn work(
    r: &FigStepRenderer,
    dir: &Path,
    ids: impl Iterator<Item = usize>,
) -> anyhow::Result<usize> {
    let mut bytes = 0;
    for i in ids {
        let png = r.render_png(&text(i))?;
        bytes += png.len();
        std::fs::write(dir.join(format!("{i}.png")), &png)?;
    }
    Ok(bytes)
}

/// Images per second rendering `n` images over `threads` threads, and total PNG bytes.
fn measure(
    r: &FigStepRenderer,
    dir: &Path,
    n: usize,
    threads: usize,
) -> anyhow::Result<(f64, usize)> {
    let start = Instant::now();
    let bytes = std::thread::scope(|s| -> anyhow::Result<usize> {
        let handles: Vec<_> = (0..threads)
            .map(|t| s.spawn(move || work(r, dir, (t..n).step_by(threads))))
            .collect();
        let mut total = 0;
        for h in handles {
            total += h
                .join()
                .map_err(|_| anyhow::anyhow!("bench worker panicked"))??;
        }
        Ok(total)
    })?;
    Ok((n as f64 / start.elapsed().as_secs_f64(), bytes))
}

struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    crate::exit::ensure_usage!(args.n > 0, "--n must be positive");
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let r = FigStepRenderer::standard()?;
    let dir =
        TempDir(std::env::temp_dir().join(format!("mmsafe-bench-attack-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0)?;
    // Warm the glyph cache so both figures measure steady-state rendering.
    work(&r, &dir.0, 0..HEADS.len() * SUBJECTS.len())?;
    let (one, bytes) = measure(&r, &dir.0, args.n, 1)?;
    let (all, _) = measure(&r, &dir.0, args.n, threads)?;
    let font = r.font.source().to_string();
    let mean_kb = bytes as f64 / args.n as f64 / 1024.0;
    // writeln! rather than println!: a closed pipe (`| head`) is an error
    // the exit code handling treats as success, not a panic.
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::json!({
                "images_per_s": all,
                "images_per_s_one_core": one,
                "threads": threads,
                "n": args.n,
                "mean_png_kib": mean_kb,
                "font": font,
            })
        )?;
    } else {
        writeln!(
            out,
            "FigStep render + PNG encode + write, {} images, font {font}",
            args.n
        )?;
        writeln!(out, "  {threads} threads: {all:8.1} images/s")?;
        writeln!(
            out,
            "  1 thread:  {one:8.1} images/s ({:.2} ms/image)",
            1000.0 / one
        )?;
        writeln!(out, "  mean PNG size: {mean_kb:.1} KiB (8-bit grey)")?;
        writeln!(
            out,
            "  goal: >= 580 images/s (20x a 29 images/s Pillow renderer)"
        )?;
    }
    Ok(Outcome::Ok)
}
