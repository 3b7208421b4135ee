use mmsafe_typography::*;

#[test]
fn textwrap_matches_cpython_fixture() {
    let raw = include_str!("fixtures/textwrap.json");
    let v: serde_json::Value = serde_json::from_str(raw).unwrap();
    let cases = v["cases"].as_array().unwrap();
    for c in cases {
        let text = c["text"].as_str().unwrap();
        let width = c["width"].as_u64().unwrap() as usize;
        let want: Vec<String> = c["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap().to_string())
            .collect();
        assert_eq!(wrap_chars(text, width), want, "text {text:?} width {width}");
    }
    assert!(cases.len() >= 400);
}

fn style(size: f32) -> TextStyle {
    TextStyle::new(Font::bundled("dejavu-sans").unwrap(), size)
}

fn ink(img: &RgbaImage) -> Option<(u32, u32, u32, u32)> {
    let mut b: Option<(u32, u32, u32, u32)> = None;
    for (x, y, p) in img.enumerate_pixels() {
        if p.0[0] < 128 {
            b = Some(match b {
                None => (x, y, x, y),
                Some((a, c, d, e)) => (a.min(x), c.min(y), d.max(x), e.max(y)),
            });
        }
    }
    b
}

fn fit_opts(rect: Rect, overflow: Overflow) -> Fit {
    Fit {
        rect,
        wrap: Wrap::Pixels,
        overflow,
        min_size: 8.0,
    }
}

const WHITE: Rgba<u8> = Rgba([255, 255, 255, 255]);
const BLACK: Rgba<u8> = Rgba([0, 0, 0, 255]);

#[test]
fn text_stays_in_its_box_and_aligns() {
    let rect = Rect::new(50, 40, 300, 200);
    let mut s = style(24.0);
    let imgs = render_text(
        400,
        300,
        WHITE,
        BLACK,
        "hello world, a line of text that wraps",
        &s,
        &fit_opts(rect, Overflow::Error),
        0.0,
    )
    .unwrap();
    assert_eq!(imgs.len(), 1);
    let (x0, y0, x1, y1) = ink(&imgs[0]).unwrap();
    assert!(
        x0 >= 50 && y0 >= 40 && x1 < 350 && y1 < 240,
        "{x0},{y0},{x1},{y1}"
    );
    s.align = Align::Center;
    let c = render_text(
        400,
        300,
        WHITE,
        BLACK,
        "hi",
        &s,
        &fit_opts(rect, Overflow::Error),
        0.0,
    )
    .unwrap();
    let (x0, _, x1, _) = ink(&c[0]).unwrap();
    let mid = (x0 + x1) / 2;
    assert!((195..=205).contains(&mid), "centre {mid}");
}

#[test]
fn overflow_policies() {
    let rect = Rect::new(10, 10, 200, 60);
    let long = "many words ".repeat(30);
    let s = style(20.0);
    let err = render_text(
        220,
        80,
        WHITE,
        BLACK,
        &long,
        &s,
        &fit_opts(rect, Overflow::Error),
        0.0,
    )
    .unwrap_err();
    assert!(err.to_string().contains("does not fit"), "{err}");
    let pages = render_text(
        220,
        80,
        WHITE,
        BLACK,
        &long,
        &s,
        &fit_opts(rect, Overflow::Paginate),
        0.0,
    )
    .unwrap();
    assert!(pages.len() > 3);
    let shrunk = fit(
        &"many words ".repeat(6),
        &s,
        &fit_opts(rect, Overflow::Shrink),
    )
    .unwrap();
    assert!(shrunk[0].size < 20.0 && shrunk[0].height() <= 60);
    let impossible = fit(&long, &s, &fit_opts(rect, Overflow::Shrink)).unwrap_err();
    assert!(impossible.to_string().contains("minimum size"));
    let clipped = render_text(
        220,
        80,
        WHITE,
        BLACK,
        &long,
        &s,
        &fit_opts(rect, Overflow::Clip),
        0.0,
    )
    .unwrap();
    let (_, _, _, y1) = ink(&clipped[0]).unwrap();
    assert!(y1 < 70);
}

#[test]
fn rotation_turns_a_line_vertical() {
    let s = style(30.0);
    let rect = Rect::new(100, 185, 200, 40);
    let flat = render_text(
        400,
        400,
        WHITE,
        BLACK,
        "rotate me",
        &s,
        &fit_opts(rect, Overflow::Clip),
        0.0,
    )
    .unwrap();
    let up = render_text(
        400,
        400,
        WHITE,
        BLACK,
        "rotate me",
        &s,
        &fit_opts(rect, Overflow::Clip),
        90.0,
    )
    .unwrap();
    let (a, b, c, d) = ink(&flat[0]).unwrap();
    assert!(c - a > d - b);
    let (a, b, c, d) = ink(&up[0]).unwrap();
    assert!(d - b > c - a, "{a},{b},{c},{d}");
}

#[test]
fn png_is_grey_when_possible_and_lossless() {
    let s = style(30.0);
    let rect = Rect::new(0, 0, 200, 100);
    let img = &render_text(
        200,
        100,
        WHITE,
        BLACK,
        "grey",
        &s,
        &fit_opts(rect, Overflow::Clip),
        0.0,
    )
    .unwrap()[0];
    let png = png::encode_rgba(img).unwrap();
    assert_eq!(png[25], 0, "colour type 0 = greyscale");
    let back = image::load_from_memory(&png).unwrap().to_rgba8();
    assert_eq!(&back, img);
    let red = &render_text(
        200,
        100,
        WHITE,
        Rgba([200, 0, 0, 255]),
        "red",
        &s,
        &fit_opts(rect, Overflow::Clip),
        0.0,
    )
    .unwrap()[0];
    let png = png::encode_rgba(red).unwrap();
    assert_eq!(png[25], 2, "colour type 2 = RGB");
    assert_eq!(&image::load_from_memory(&png).unwrap().to_rgba8(), red);
    assert_eq!(png::encode_rgba(red).unwrap(), png, "deterministic");
}

#[test]
fn system_fonts_by_family_when_installed() {
    if !std::path::Path::new("/usr/share/fonts/truetype/freefont/FreeMonoBold.ttf").exists() {
        eprintln!("skipping: fonts-freefont-ttf not installed");
        return;
    }
    let f = Font::load("FreeMonoBold").unwrap();
    assert!(f.source().to_string().ends_with("FreeMonoBold.ttf"));
    assert_eq!(f.text_width("abc", 80.0), 144);
    let g = Font::load("Free Mono Bold").unwrap();
    assert_eq!(g.source(), f.source());
}
