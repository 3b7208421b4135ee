//! Agreement between human annotators: Cohen's κ for each pair of people and
//! Fleiss' κ over every item two or more people labelled.
//!
//! Categories are small integers (`0..k`); the caller maps its label names.

/// Cohen's κ of two raters over the items both rated; `None` with no items or
/// when chance agreement is already 1 (both always said the same category,
/// where κ is undefined).
pub fn cohen_kappa(pairs: &[(usize, usize)], k: usize) -> Option<f64> {
    let n = pairs.len();
    if n == 0 || k == 0 {
        return None;
    }
    let mut a = vec![0f64; k];
    let mut b = vec![0f64; k];
    let mut agree = 0f64;
    for &(x, y) in pairs {
        if x >= k || y >= k {
            return None;
        }
        a[x] += 1.0;
        b[y] += 1.0;
        if x == y {
            agree += 1.0;
        }
    }
    let nf = n as f64;
    let po = agree / nf;
    let pe: f64 = a.iter().zip(&b).map(|(x, y)| (x / nf) * (y / nf)).sum();
    if (1.0 - pe).abs() < 1e-12 {
        return None;
    }
    Some((po - pe) / (1.0 - pe))
}

/// Fleiss' κ with a varying number of raters per item: `items[i][j]` is how
/// many raters put item `i` in category `j`. Items with fewer than two
/// ratings are skipped; `None` when none is left or chance agreement is 1.
pub fn fleiss_kappa(items: &[Vec<u64>]) -> Option<f64> {
    let mut p_bar = 0f64;
    let mut used = 0u64;
    let k = items.iter().map(Vec::len).max().unwrap_or(0);
    let mut totals = vec![0f64; k];
    let mut all = 0f64;
    for row in items {
        let ni: u64 = row.iter().sum();
        if ni < 2 {
            continue;
        }
        let nf = ni as f64;
        let sq: f64 = row.iter().map(|&c| (c * c) as f64).sum();
        p_bar += (sq - nf) / (nf * (nf - 1.0));
        used += 1;
        for (j, &c) in row.iter().enumerate() {
            totals[j] += c as f64;
        }
        all += nf;
    }
    if used == 0 {
        return None;
    }
    p_bar /= used as f64;
    let pe: f64 = totals.iter().map(|t| (t / all) * (t / all)).sum();
    if (1.0 - pe).abs() < 1e-12 {
        return None;
    }
    Some((p_bar - pe) / (1.0 - pe))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cohen_known_value() {
        // Classic 2x2 example: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no → κ = 0.4.
        let mut p = vec![(0, 0); 20];
        p.extend(vec![(0, 1); 5]);
        p.extend(vec![(1, 0); 10]);
        p.extend(vec![(1, 1); 15]);
        let k = cohen_kappa(&p, 2).unwrap();
        assert!((k - 0.4).abs() < 1e-12, "{k}");
        assert_eq!(cohen_kappa(&[(0, 0), (0, 0)], 2), None);
        assert_eq!(cohen_kappa(&[], 2), None);
    }

    #[test]
    fn fleiss_matches_cohen_shape_and_perfect_agreement() {
        // Perfect agreement across two categories → 1.
        let items = vec![vec![3, 0], vec![0, 3], vec![3, 0]];
        assert!((fleiss_kappa(&items).unwrap() - 1.0).abs() < 1e-12);
        // Wikipedia's worked example (10 items, 14 raters, 5 categories): κ ≈ 0.210.
        let w = vec![
            vec![0, 0, 0, 0, 14],
            vec![0, 2, 6, 4, 2],
            vec![0, 0, 3, 5, 6],
            vec![0, 3, 9, 2, 0],
            vec![2, 2, 8, 1, 1],
            vec![7, 7, 0, 0, 0],
            vec![3, 2, 6, 3, 0],
            vec![2, 5, 3, 2, 2],
            vec![6, 5, 2, 1, 0],
            vec![0, 2, 2, 3, 7],
        ];
        let k = fleiss_kappa(&w).unwrap();
        assert!((k - 0.210).abs() < 1e-3, "{k}");
        assert_eq!(fleiss_kappa(&[vec![1, 0]]), None);
    }
}
