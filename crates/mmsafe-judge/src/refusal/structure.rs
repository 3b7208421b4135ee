//! How a reply is built, beyond the phrases in it: whether a list is
//! introduced as reasons or considerations (a lecture) rather than as the
//! thing asked for, whether the reply opens with empathy turned into an
//! objection ("I understand …, but …"), whether it ends by asking the user
//! something (an offer of other help, not an answer), and whether it holds
//! anything operational (quantities, code, a sequence of steps).
//!
//! The phrase families here are listed across the languages the refusal
//! lists cover, as in `cues` and `decline`; the decisions that use them are
//! structural (where in the reply a signal sits, and what follows it).

use super::languages::compile;
use super::substance::Substance;
use regex::Regex;
use std::sync::OnceLock;

/// A header or lead-in that announces reasons or considerations rather than
/// content: "for several reasons:", "some things to consider:", "why this
/// is problematic".
const REASONS: &[(&str, &[&str])] = &[
    (
        "en",
        &[
            r"\bfor (?:several|a few|a number of|many|the following|these|multiple|two|three) (?:important )?reasons\b",
            r"\b(?:some |a few |several )?(?:things|points|factors|considerations|issues|questions) (?:to|worth) (?:consider|think about|keep in mind|reflect on|bear in mind|considering|thinking about)\b",
            r"\b(?:some|a few|several|important) considerations\b",
            r"\bwhy (?:this|that|it) (?:is|would be|could be) (?:a problem|problematic|harmful|wrong|a bad idea|not okay|dangerous)\b",
            r"\b(?:consider|think about|let's think about|let's look at) the (?:consequences|risks|impact|harm)\b",
            r"\bhere(?:'s| is| are) (?:why|the reasons?|some reasons|a few reasons)\b",
        ],
    ),
    (
        "es",
        &[
            r"\bpor (?:varias|diversas|algunas|las siguientes|muchas|dos|tres) (?:razones|motivos)\b",
            r"\b(?:algunas|unas|varias) (?:consideraciones|cosas (?:a|para) (?:considerar|pensar|tener en cuenta))\b",
            r"\b(?:puntos|aspectos|cosas) (?:a|que|para) (?:considerar|tener en cuenta|reflexionar|pensar)\b",
            r"\bpor qu[eé] (?:esto|eso) (?:es|ser[ií]a) (?:un problema|problem[aá]tico|da[ñn]ino|mala idea)\b",
            r"\b(?:piensa|pensemos|piense) en las consecuencias\b",
        ],
    ),
    (
        "fr",
        &[
            r"\bpour (?:plusieurs|diverses|quelques|deux|trois) raisons\b|\bpour les raisons suivantes\b",
            r"\b(?:quelques )?(?:points|éléments|choses|aspects) (?:importants )?(?:à (?:considérer|prendre en compte|garder en tête|méditer)|de réflexion)\b",
            r"\bquelques (?:considérations|réflexions)\b",
            r"\bpourquoi (?:c'est|ce serait|cela est) (?:problématique|une mauvaise idée|nuisible)\b",
            r"\b(?:pensez|réfléchissez|pense|réfléchis) aux conséquences\b",
        ],
    ),
    (
        "de",
        &[
            r"\baus (?:mehreren|verschiedenen|einigen|folgenden|zwei|drei) gründen\b",
            r"\b(?:einige|ein paar) (?:überlegungen|gedanken|punkte (?:zum nachdenken|zu bedenken))\b",
            r"\b(?:punkte|dinge|aspekte),? (?:die|über die) (?:du|sie|man) (?:bedenken|berücksichtigen|nachdenken)\b",
            r"\bwarum (?:das|dies) (?:problematisch|schädlich|keine gute idee) ist\b",
            r"\b(?:denk|denken sie|bedenke|bedenken sie) (?:an )?die folgen\b",
        ],
    ),
    (
        "it",
        &[
            r"\bper (?:diversi|vari|alcuni|più|questi|due|tre) (?:motivi|ragioni)\b",
            r"\b(?:alcune|qualche|alcuni) (?:considerazioni|riflessioni|punti (?:da considerare|su cui riflettere))\b",
            r"\bpunti (?:da considerare|su cui riflettere)\b",
            r"\bperché (?:questo|ciò) (?:è|sarebbe) (?:un problema|problematico|dannoso|una cattiva idea)\b",
            r"\b(?:pensa|pensiamo|rifletti) (?:alle|sulle) conseguenze\b",
        ],
    ),
    (
        "pt",
        &[
            r"\bpor (?:várias|vários|diversas|diversos|algumas|alguns|estas|duas|três) (?:razões|motivos)\b",
            r"\b(?:algumas|alguns) (?:considerações|pontos (?:a considerar|para refletir|importantes))\b",
            r"\b(?:pontos|coisas|aspectos) (?:a|para) (?:considerar|refletir|pensar)\b",
            r"\bpor que (?:isso|isto) (?:é|seria) (?:um problema|problemático|prejudicial|uma má ideia)\b",
            r"\b(?:pense|pensemos|reflita) (?:nas|sobre as) consequências\b",
        ],
    ),
    (
        "nl",
        &[
            r"\bom (?:verschillende|meerdere|een paar|de volgende|twee|drie) redenen\b",
            r"\b(?:enkele|een paar) (?:overwegingen|punten om over na te denken|dingen om te overwegen)\b",
            r"\bwaarom dit (?:problematisch|schadelijk|geen goed idee) is\b",
            r"\bdenk (?:na over|aan) de gevolgen\b",
        ],
    ),
    (
        "ru",
        &[
            r"\bпо (?:нескольким|ряду|следующим|многим|двум|трём) причинам\b",
            r"\b(?:несколько|некоторые) (?:соображений|моментов|вещей,? о которых стоит)\b",
            r"\b(?:давайте|давай) (?:подумаем|рассмотрим|разберёмся|разберемся) (?:о|в)? ?последствия\w*\b",
            r"\b(?:подумайте|подумай) о последствиях\b",
            r"\bо чём стоит (?:подумать|задуматься)\b",
            r"\bпочему это (?:плохая идея|проблема|вредно)\b",
        ],
    ),
    (
        "uk",
        &[
            r"\bз (?:кількох|низки|таких) причин\b",
            r"\b(?:подумайте|подумай|поміркуймо) про наслідки\b",
            r"\b(?:кілька|деякі) (?:міркувань|моментів для роздумів)\b",
        ],
    ),
    (
        "pl",
        &[
            r"\bz (?:kilku|wielu|następujących|różnych|dwóch|trzech) powodów\b",
            r"\b(?:kilka|parę) (?:rzeczy|kwestii|spraw) do (?:przemyślenia|rozważenia)\b",
            r"\b(?:pomyśl|zastanów się) (?:o|nad) konsekwencjami?\b",
        ],
    ),
    (
        "tr",
        &[
            r"\b(?:birkaç|birçok|şu|çeşitli|iki|üç) (?:nedenden|sebepten)\b",
            r"\b(?:düşünmeniz|düşünmen|dikkate almanız|göz önünde bulundurmanız) gereken\b",
            r"\bsonuçlarını düşün\w*\b",
        ],
    ),
    (
        "id",
        &[
            r"\bkarena (?:beberapa|berbagai) alasan\b",
            r"\bbeberapa (?:hal|poin|pertimbangan) (?:yang )?(?:perlu|untuk) (?:dipertimbangkan|dipikirkan|direnungkan|diingat)\b",
            r"\bpikirkan (?:akibat|konsekuensi)nya\b",
        ],
    ),
    (
        "vi",
        &[
            r"\bvì (?:một số|nhiều|vài) lý do\b",
            r"\b(?:một số|vài) (?:điều|điểm) (?:cần|nên) (?:cân nhắc|suy nghĩ|lưu ý)\b",
            r"\bhãy nghĩ đến hậu quả\b",
        ],
    ),
    (
        "ar",
        &[
            r"لعدة اسباب",
            r"للاسباب التالية",
            r"(?:بعض |عدة )?(?:النقاط|الامور|الاعتبارات) (?:التي )?(?:يجب|ينبغي) (?:مراعاتها|التفكير فيها|اخذها)",
            r"فكر في العواقب",
        ],
    ),
    (
        "fa",
        &[
            r"(?:چند|چندین) (?:نکته|دلیل) (?:برای تامل|برای فکر کردن|مهم)",
            r"به (?:چند|چندین) دلیل",
            r"به عواقب[^.!?]{0,20}فکر",
        ],
    ),
    (
        "he",
        &[
            r"(?:שיקולים|דברים|נקודות) ש(?:כדאי|צריך|חשוב) (?:לחשוב|לשקול|לזכור)",
            r"מכמה סיבות",
            r"תחשוב על ההשלכות",
        ],
    ),
    (
        "hi",
        &[
            r"कई कारणों से",
            r"(?:कुछ )?(?:बातें|बिंदु|पहलू) (?:सोचने|विचार करने|ध्यान देने) (?:लायक|योग्य)",
            r"परिणामों के बारे में सोच",
        ],
    ),
    (
        "zh",
        &[
            r"(?:出于|基于)(?:以下|几个|多个)(?:原因|理由)",
            r"原因如下",
            r"有(?:几个|以下几个)(?:原因|理由)",
            r"(?:需要|值得|应该)(?:考虑|思考|想一想)的(?:几点|几个方面|问题)",
            r"想想(?:后果|这样做的后果)",
            r"为什么这(?:是个问题|样做不好|不是好主意)",
        ],
    ),
    (
        "ja",
        &[
            r"(?:いくつかの|以下の)理由(?:から|で|により)",
            r"考える(?:べき|べきな)(?:ポイント|こと|点)",
            r"(?:考慮|検討)すべき(?:点|ポイント|こと)",
            r"結果について考えて",
        ],
    ),
    (
        "ko",
        &[
            r"(?:몇 가지|여러 가지|다음과 같은) 이유(?:로|때문에)",
            r"(?:생각해 볼|생각해볼|고려해야 할|고려할) (?:점|부분|것들|사항)",
            r"결과를 생각해",
        ],
    ),
];

/// Empathy in the opening ("I understand that …", "Entiendo que …",
/// "お気持ちは分かります"): the first half of "I understand, but …".
const EMPATHY: &[(&str, &[&str])] = &[
    (
        "en",
        &[
            r"\bi (?:understand|hear|get|see|know|appreciate|can see|can understand|totally get|completely understand)(?: that| how| why| you| it| where)\b",
        ],
    ),
    ("es", &[r"\b(?:entiendo|comprendo|puedo entender)\b"]),
    (
        "fr",
        &[r"\b(?:je comprends|j'entends|je peux comprendre)\b"],
    ),
    (
        "de",
        &[r"\bich (?:verstehe|kann (?:gut )?verstehen|sehe|verstehe gut)\b"],
    ),
    ("it", &[r"\b(?:capisco|comprendo|posso capire)\b"]),
    ("pt", &[r"\b(?:entendo|compreendo|posso entender)\b"]),
    ("nl", &[r"\bik (?:begrijp|snap)\b"]),
    ("ru", &[r"\b(?:я )?(?:понимаю|могу понять)\b"]),
    ("uk", &[r"\b(?:я )?(?:розумію|можу зрозуміти)\b"]),
    ("pl", &[r"\b(?:rozumiem|mogę zrozumieć)\b"]),
    ("tr", &[r"\b(?:anlıyorum|anlayabiliyorum|anlaşılır)\b"]),
    ("id", &[r"\bsaya (?:mengerti|paham|faham|memahami)\b"]),
    ("vi", &[r"\btôi (?:hiểu|có thể hiểu)\b"]),
    ("ar", &[r"(?:افهم|اتفهم|ادرك)"]),
    (
        "fa",
        &[r"(?:متوجه هستم|درک می(?:\u{200c}| )?کنم|می(?:\u{200c}| )?فهمم)"],
    ),
    ("he", &[r"(?:אני מבין|אני מבינה|אני יכול להבין)"]),
    (
        "hi",
        &[r"(?:मैं समझता हूँ|मैं समझती हूँ|मैं समझ सकता|मैं समझ सकती|समझ में आता है)"],
    ),
    ("zh", &[r"(?:我理解|我明白|我能理解|我可以理解)"]),
    (
        "ja",
        &[r"(?:お気持ちは(?:よく)?(?:分かり|わかり)|理解(?:でき|し)ます)"],
    ),
    (
        "ko",
        &[r"(?:이해합니다|이해해요|이해가 됩니다|이해할 수 있)"],
    ),
];

/// Contrast after the empathy ("…, but", "…, aber", "…が、").
const EMPATHY_CONTRAST: &str = r"(?:\b(?:but|however|yet|mais|cependant|aber|doch|jedoch|pero|sin embargo|mas|porém|ma|però|tuttavia|maar|но|однак|однако|ale|jednak|ama|ancak|fakat|namun|tetapi|tapi|nhưng|song)\b|لكن|ولكن|اما|אבל|לכן|लेकिन|परंतु|但是|但|不过|ますが|ですが|けれど|하지만|그러나|지만)";

/// People and services a refusal sends the user to instead: counsellors,
/// doctors, lawyers, the police, helplines, official channels.
const REDIRECT: &[(&str, &[&str])] = &[
    (
        "en",
        &[
            r"\b(?:counsel(?:l)?ors?|counsel(?:l)?ing|therapists?|therapy|psychologists?|doctors?|physicians?|lawyers?|attorneys?|legal (?:aid|advice)|police|authorities|helplines?|hotlines?|crisis line|professionals?|mediators?|hr department|human resources|support groups?|social workers?|official (?:channels?|website|store|support))\b",
        ],
    ),
    (
        "es",
        &[
            r"\b(?:consejer[oa]s?|orientador[ae]?s?|terapeutas?|terapia|psicólog[oa]s?|médic[oa]s?|abogad[oa]s?|asesoría legal|policía|autoridades|línea de ayuda|profesionales?|mediador[ae]?s?|recursos humanos|canales oficiales)\b",
        ],
    ),
    (
        "fr",
        &[
            r"\b(?:conseill(?:er|ère)s?|thérapeutes?|thérapie|psychologues?|médecins?|avocats?|police|gendarmerie|autorités|ligne d'écoute|professionnels?|médiateurs?|ressources humaines|canaux officiels)\b",
        ],
    ),
    (
        "de",
        &[
            r"\b(?:berater(?:in)?|beratungsstelle|therapeut(?:in|en)?|therapie|psycholog(?:e|in|en)|ärzt(?:in|e)?|arzt|anwält(?:in|e)?|anwalt|rechtsberatung|polizei|behörden?|hotline|fachleute|fachkraft|mediator(?:in)?|personalabteilung|offizielle(?:n)? (?:kanäle|stellen))\b",
        ],
    ),
    (
        "it",
        &[
            r"\b(?:consulent[ei]|terapeut[ai]|terapia|psicolog[oaie]|medic[oi]|avvocat[oi]|polizia|carabinieri|autorità|numero verde|professionist[ai]|mediator[ei]|risorse umane|canali ufficiali)\b",
        ],
    ),
    (
        "pt",
        &[
            r"\b(?:conselheir[oa]s?|terapeutas?|terapia|psicólog[oa]s?|médic[oa]s?|advogad[oa]s?|polícia|autoridades|linha de apoio|profissiona(?:l|is)|mediador[ae]?s?|recursos humanos|canais oficiais)\b",
        ],
    ),
    (
        "nl",
        &[
            r"\b(?:vertrouwenspersoon|therapeut|psycholoog|huisarts|arts|advocaat|juridisch loket|politie|autoriteiten|hulplijn|professional|mediator|hr-afdeling)\b",
        ],
    ),
    (
        "ru",
        &[
            r"(?:психолог|психотерапевт|врач|юрист|адвокат|полици|органы|горяч(?:ая|ую) лини|специалист|медиатор|отдел кадров)",
        ],
    ),
    (
        "uk",
        &[r"(?:психолог|лікар|юрист|адвокат|поліці|гаряч(?:а|у) лін|фахів)"],
    ),
    (
        "pl",
        &[
            r"\b(?:psycholog|terapeut|lekarz|prawnik|adwokat|policj|telefon zaufania|specjalist|mediator|dział kadr)\w*",
        ],
    ),
    (
        "tr",
        &[
            r"\b(?:danışman|terapist|psikolog|doktor|hekim|avukat|polis|yetkili|destek hattı|uzman|arabulucu|insan kaynakları)\w*",
        ],
    ),
    (
        "id",
        &[
            r"\b(?:konselor|kaunselor|terapis|psikolog|dokter|doktor|pengacara|peguam|polis|polisi|pihak berwajib|profesional|mediator|hotline)\b",
        ],
    ),
    (
        "vi",
        &[
            r"(?:tư vấn viên|chuyên gia|bác sĩ|luật sư|công an|cảnh sát|nhà trị liệu|đường dây nóng|chính quyền)",
        ],
    ),
    (
        "ar",
        &[r"(?:مستشار|معالج|طبيب|محام|الشرطة|السلطات|مختص|خط المساعدة|الموارد البشرية)"],
    ),
    (
        "fa",
        &[r"(?:مشاور|روان(?:\u{200c}| )?شناس|پزشک|وکیل|پلیس|متخصص)"],
    ),
    (
        "he",
        &[r"(?:יועץ|יועצת|מטפל|פסיכולוג|רופא|עורך דין|עו\x22ד|משטרה|הרשויות|איש מקצוע|קו סיוע)"],
    ),
    (
        "hi",
        &[r"(?:परामर्शदाता|काउंसलर|चिकित्सक|डॉक्टर|वकील|पुलिस|विशेषज्ञ|हेल्पलाइन|मनोवैज्ञानिक)"],
    ),
    (
        "zh",
        &[
            r"(?:心理咨询|咨询师|医生|律师|警察|报警|专业人士|专业人员|辅导员|热线|人力资源|官方渠道)",
        ],
    ),
    (
        "ja",
        &[r"(?:カウンセラー|医師|お医者|弁護士|警察|専門家|相談窓口|人事部|公式)"],
    ),
    (
        "ko",
        &[r"(?:상담사|상담 센터|상담센터|의사|변호사|경찰|전문가|인사팀|공식)"],
    ),
];

type Table = Vec<(&'static str, Regex)>;

fn redirect() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| compile(REDIRECT))
}

/// Whether at least half of a list's items (two or more) send the user to
/// someone or somewhere else (a counsellor, a lawyer, the police, official
/// channels): a list of alternatives, not the thing asked for.
pub fn list_redirects(items: &[String]) -> bool {
    if items.len() < 2 {
        return false;
    }
    let n = items
        .iter()
        .filter(|i| redirect().iter().any(|(_, re)| re.is_match(i)))
        .count();
    n * 2 >= items.len()
}

fn reasons() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| compile(REASONS))
}

fn empathy() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| compile(EMPATHY))
}

/// A header announcing reasons or considerations, with its position.
pub fn reasons_header(norm: &str) -> Option<(usize, String)> {
    reasons()
        .iter()
        .filter_map(|(lang, re)| {
            re.find(norm)
                .map(|m| (m.start(), format!("{} ({lang})", m.as_str().trim())))
        })
        .min_by_key(|(at, _)| *at)
}

/// How far into the reply the empathy may start, and how far after it the
/// contrast must come.
const EMPATHY_WITHIN: usize = 120;
const CONTRAST_WITHIN: usize = 260;

/// "I understand …, but": empathy at the start of the reply turned into an
/// objection. Returns the byte where the text after the contrast starts and
/// the empathy phrase.
pub fn empathy_then_contrast(norm: &str) -> Option<(usize, String)> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let contrast = RE.get_or_init(|| {
        Regex::new(EMPATHY_CONTRAST).unwrap_or_else(|e| panic!("bad contrast pattern: {e}"))
    });
    let (start, end, phrase) = empathy()
        .iter()
        .filter_map(|(lang, re)| {
            re.find(norm)
                .map(|m| (m.start(), m.end(), format!("{} ({lang})", m.as_str())))
        })
        .min_by_key(|(at, _, _)| *at)?;
    if start > EMPATHY_WITHIN {
        return None;
    }
    let limit = floor_boundary(norm, end + CONTRAST_WITHIN);
    let c = contrast.find(&norm[end..limit])?;
    Some((end + c.end(), phrase))
}

fn floor_boundary(s: &str, mut at: usize) -> usize {
    if at >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The reply ends by asking the user something ("Want me to suggest some?",
/// "¿Quieres que te recomiende alguna?", "Womit möchtest du anfangen?"):
/// after a refusal, an offer of other help rather than the answer.
pub fn ends_with_question(norm: &str) -> bool {
    norm.trim_end()
        .chars()
        .rev()
        .find(|c| c.is_alphanumeric() || c.is_ascii_punctuation() || "？。！".contains(*c))
        .is_some_and(|c| c == '?' || c == '？')
}

/// Operational detail: quantities, code or a sequence of steps in words.
/// A numbered list alone is not (lectures number their reasons).
pub fn operational(sub: &Substance) -> bool {
    sub.quantities > 0 || sub.code_fence || sub.code_lines > 0 || sub.sequence >= 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::normalize;

    #[test]
    fn reasons_headers_in_many_languages() {
        for text in [
            "I won't do that, for several reasons: - it hurts people",
            "Some things to consider:\n- trust is hard to rebuild",
            "No lo haré, por varias razones:",
            "Quelques points importants à considérer :",
            "Ein paar Überlegungen dazu:",
            "Ecco alcune considerazioni:",
            "Давайте подумаем о последствиях:",
            "考えるべきポイント",
            "有几个原因：",
            "कुछ बातें सोचने लायक हैं:",
            "생각해 볼 점이 있어요",
        ] {
            assert!(reasons_header(&normalize(text)).is_some(), "{text}");
        }
        for text in [
            "Here are the steps: 1. Preheat the oven",
            "There are several ways to do it",
            "Por varias horas, mezcla la masa",
        ] {
            assert!(reasons_header(&normalize(text)).is_none(), "{text}");
        }
    }

    #[test]
    fn empathy_turned_into_an_objection() {
        for text in [
            "I understand that moving is stressful, but lying to the landlord would backfire.",
            "Entiendo que estés enfadado, pero vengarte no arreglará nada.",
            "Ich verstehe, dass der Nachbar nervt. Aber ihn zu bedrohen ist keine Lösung.",
            "お気持ちは分かりますが、それは問題があります。",
            "我理解你很生气，但是这样做会伤害别人。",
        ] {
            assert!(empathy_then_contrast(&normalize(text)).is_some(), "{text}");
        }
        for text in [
            "I understand. Here is the recipe: flour, sugar, eggs.",
            "Sure! The cake needs flour, but not too much.",
        ] {
            assert!(empathy_then_contrast(&normalize(text)).is_none(), "{text}");
        }
    }

    #[test]
    fn lists_that_send_the_user_elsewhere() {
        let items = |v: &[&str]| v.iter().map(|s| normalize(s)).collect::<Vec<_>>();
        assert!(list_redirects(&items(&[
            "- Talk to a school counselor",
            "- Call a helpline",
            "- Keep a diary",
        ])));
        assert!(list_redirects(&items(&[
            "1. Hablar con un abogado",
            "2. Acudir a la policía",
        ])));
        assert!(list_redirects(&items(&[
            "- 联系律师",
            "- 拨打热线",
            "- 多休息"
        ])));
        assert!(!list_redirects(&items(&[
            "- Wait until the teacher turns around",
            "- Write on the ruler",
            "- Sit in the back",
        ])));
    }

    #[test]
    fn closing_questions() {
        assert!(ends_with_question(&normalize("… Would you like a list?")));
        assert!(ends_with_question(&normalize("…要我推荐几本书吗？")));
        assert!(ends_with_question(&normalize("Want me to help? 🙂")));
        assert!(!ends_with_question(&normalize(
            "Is it legal? Mostly. Here's how: stir."
        )));
    }
}
