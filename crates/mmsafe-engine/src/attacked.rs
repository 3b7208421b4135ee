//! Stage two of the pipeline: every case × every attack, applied ahead of the
//! attempts on blocking threads.
//!
//! Rendering attacks (FigStep and friends) spend milliseconds of CPU per case;
//! done inline they would serialize the whole scan behind the renderer. Here up
//! to `prefetch` applications run in parallel while results come out in plan
//! order, so memory stays bounded and the attempt loop never waits on a render
//! that could have been done earlier.

use crate::NamedAttack;
use futures::{Stream, StreamExt as _};
use mmsafe_core::{seed, AttackError, Case, DataError};
use std::sync::Arc;
use tokio::sync::mpsc;

pub(crate) enum Item {
    Attacked {
        base: Arc<Case>,
        attack: usize,
        result: Result<Vec<Case>, AttackError>,
    },
    Data(DataError),
}

pub(crate) fn attacked_stream(
    cases: mpsc::Receiver<Result<Case, DataError>>,
    attacks: Arc<[NamedAttack]>,
    run_seed: u64,
    prefetch: usize,
) -> impl Stream<Item = Item> + Send {
    let handle = tokio::runtime::Handle::current();
    let n = attacks.len();
    futures::stream::unfold(
        cases,
        |mut rx| async move { rx.recv().await.map(|i| (i, rx)) },
    )
    .flat_map(move |item| {
        let pairs: Vec<Result<(Arc<Case>, usize), DataError>> = match item {
            Ok(c) => {
                let c = Arc::new(c);
                (0..n).map(|i| Ok((c.clone(), i))).collect()
            }
            Err(e) => vec![Err(e)],
        };
        futures::stream::iter(pairs)
    })
    .map(move |pair| {
        let attacks = attacks.clone();
        let handle = handle.clone();
        async move {
            let (base, i) = match pair {
                Ok(p) => p,
                Err(e) => return Item::Data(e),
            };
            let attack = attacks[i].attack.clone();
            let spec = attacks[i].spec.clone();
            let s = seed::derive(run_seed, &[&base.id, &spec]);
            // The unattacked baseline is a clone: not worth a thread hop.
            let result = if spec == "none" {
                attack.apply(&base, s).await
            } else {
                let case = base.clone();
                match tokio::task::spawn_blocking(move || handle.block_on(attack.apply(&case, s)))
                    .await
                {
                    Ok(r) => r,
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(_) => Err(AttackError::new(spec, "attack task was cancelled")),
                }
            };
            Item::Attacked {
                base,
                attack: i,
                result,
            }
        }
    })
    .buffered(prefetch.max(1))
}
