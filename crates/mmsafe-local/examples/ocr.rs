//! Print what the guard's OCR reads from image files, line by line with
//! confidence and box: `cargo run --release -p mmsafe-local --example ocr -- [--plain] IMG…`.
//! For looking at a failure; `mmsafe guard eval --ocr-words` measures.

use mmsafe_local::models::{catalog, find, Manager};
use mmsafe_local::ocr::{OcrParams, PaddleOcr};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let plain = args.iter().any(|a| a == "--plain");
    args.retain(|a| a != "--plain");
    let spec = find(catalog::PPOCR).ok_or("PP-OCR is not in the catalog")?;
    let dir = Manager::from_env()?.require(&spec)?;
    let ocr = PaddleOcr::load(&dir, mmsafe_local::Compute::new(1))?;
    let params = OcrParams {
        robust: !plain,
        // The guard's detection side (mmsafe-cli `GUARD_OCR_DET_SIDE`).
        det_fast_side: 320,
        ..ocr.params().clone()
    };
    let ocr = ocr.with_params(params);
    for path in &args {
        let img = image::open(path)?.to_rgb8();
        let t = std::time::Instant::now();
        let boxes = ocr.detect_lines(&img)?.len();
        let detect_ms = t.elapsed().as_secs_f64() * 1e3;
        let t = std::time::Instant::now();
        let lines = ocr.read_rgb(&img)?;
        println!(
            "{path}: {} lines, {:.0} ms (detection alone: {boxes} boxes, {detect_ms:.0} ms)",
            lines.len(),
            t.elapsed().as_secs_f64() * 1e3
        );
        for l in lines {
            println!("  {:.2} {:?} {}", l.confidence, l.bbox, l.text);
        }
    }
    Ok(())
}
