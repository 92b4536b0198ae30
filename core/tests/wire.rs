//! Property tests of the GPA-range wire format: windows survive a write and
//! a parse unchanged (and so do the words), and parsing arbitrary words
//! never panics and agrees with an independent model, whose errors name the
//! range and the word where the input went wrong.

use pagedrange::wire::{gpa_ranges_len, parse_each, parse_gpa_ranges, write_gpa_ranges, WireError};
use pagedrange::{PagedRange, MAX_GPN, PAGE_SIZE};
use proptest::prelude::*;

const P: usize = PAGE_SIZE;

fn header(len: u32, offset: u32) -> u64 {
    (u64::from(offset) << 32) | u64::from(len)
}

/// A window to encode: `len` bytes `offset` bytes into page `skip` of
/// `list` (whose pages after the window are never part of it).
#[derive(Clone, Debug)]
struct Spec {
    offset: usize,
    len: usize,
    skip: usize,
    list: Vec<u64>,
}

impl Spec {
    fn window(&self) -> PagedRange<'_> {
        PagedRange::new(self.skip * P + self.offset, self.len, &self.list).unwrap()
    }

    /// What the window looks like after a round trip: `(offset, len, gpns)`;
    /// an empty window is written with offset 0 and no GPN.
    fn expected(&self) -> (usize, usize, &[u64]) {
        if self.len == 0 {
            return (0, 0, &[]);
        }
        let pages = (self.offset + self.len).div_ceil(P);
        (
            self.offset,
            self.len,
            &self.list[self.skip..self.skip + pages],
        )
    }
}

fn gpn() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => 0..1000u64,
        2 => 0..MAX_GPN,
        1 => (MAX_GPN - 3)..MAX_GPN,
    ]
}

/// Valid windows: any offset in the page, lengths from 0 to a few pages
/// (including whole pages), GPN lists with runs of adjacent pages, and
/// sometimes a window starting past the first pages of its list or sitting
/// on the highest page without reaching its last byte.
fn spec() -> impl Strategy<Value = Spec> {
    let general = (
        0..P,
        prop_oneof![Just(0usize), 1..3 * P, (1..4usize).prop_map(|n| n * P)],
        0..3usize,
        proptest::collection::vec((gpn(), any::<bool>()), 5..6),
    )
        .prop_map(|(offset, len, skip, raw)| {
            let pages = if len == 0 {
                0
            } else {
                (offset + len).div_ceil(P)
            };
            let mut list: Vec<u64> = Vec::new();
            for i in 0..skip + pages.max(1) {
                let (g, adjacent) = raw[i % raw.len()];
                let next = match list.last() {
                    Some(&prev) if adjacent && prev + 1 < MAX_GPN => prev + 1,
                    _ => g,
                };
                list.push(next);
            }
            Spec {
                offset,
                len,
                skip,
                list,
            }
        });
    let top = (0..P - 1).prop_flat_map(|offset| {
        (1..P - offset).prop_map(move |len| Spec {
            offset,
            len,
            skip: 0,
            list: vec![MAX_GPN],
        })
    });
    prop_oneof![9 => general, 1 => top]
}

/// An independent parser: the windows as `(start in the flat space of the
/// words, len)` and the words used, or the error the library must report.
fn model(words: &[u64], count: usize) -> Result<(Vec<(usize, usize)>, usize), WireError> {
    let mut out = Vec::new();
    let mut word = 0;
    for range in 0..count {
        let Some(&h) = words.get(word) else {
            return Err(WireError::Truncated {
                range,
                word,
                needed: 1,
            });
        };
        let len = (h & 0xffff_ffff) as usize;
        let offset = (h >> 32) as usize;
        if offset >= P || (len == 0 && offset != 0) {
            return Err(WireError::BadOffset {
                range,
                word,
                offset: offset as u32,
            });
        }
        let pages = if len == 0 {
            0
        } else {
            (offset + len).div_ceil(P)
        };
        let first = word + 1;
        let available = words.len() - first;
        if pages > available {
            return Err(WireError::Truncated {
                range,
                word: words.len(),
                needed: pages - available,
            });
        }
        for i in 0..pages {
            let gpn = words[first + i];
            // A page's last byte is covered unless the window ends inside it.
            let covers_last = i + 1 < pages || (offset + len) % P == 0;
            if gpn > MAX_GPN || (gpn == MAX_GPN && covers_last) {
                return Err(WireError::InvalidGpn {
                    range,
                    word: first + i,
                    gpn,
                });
            }
        }
        out.push(if len == 0 {
            (0, 0)
        } else {
            (first * P + offset, len)
        });
        word = first + pages;
    }
    Ok((out, word))
}

/// Arbitrary words, biased towards plausible headers so that parsing gets
/// past the first range often.
fn words() -> impl Strategy<Value = Vec<u64>> {
    let head = (
        prop_oneof![4 => 0..20_000u32, 1 => any::<u32>()],
        prop_oneof![6 => 0..P as u32, 1 => P as u32..P as u32 + 2, 1 => any::<u32>()],
    )
        .prop_map(|(len, offset)| header(len, offset));
    let page = prop_oneof![
        4 => 0..1000u64,
        2 => (MAX_GPN - 2)..=(MAX_GPN + 2),
        1 => any::<u64>(),
    ];
    proptest::collection::vec(prop_oneof![1 => head, 3 => page], 0..40)
}

fn describe(w: &PagedRange<'_>) -> (usize, usize, Vec<u64>) {
    (
        if w.is_empty() { 0 } else { w.offset() },
        w.len(),
        w.gpns().to_vec(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 512 }))]

    #[test]
    #[cfg_attr(miri, ignore)]
    fn windows_round_trip(specs in proptest::collection::vec(spec(), 0..8), extra in 0usize..4) {
        let windows: Vec<_> = specs.iter().map(Spec::window).collect();
        let needed: usize = specs.iter().map(|s| 1 + s.expected().2.len()).sum();
        prop_assert_eq!(gpa_ranges_len(windows.iter().copied()), Ok(needed));

        // A short array: refused, untouched.
        if needed > 0 {
            let mut short = vec![0xdead_beefu64; needed - 1];
            prop_assert_eq!(
                write_gpa_ranges(windows.iter().copied(), &mut short),
                Err(WireError::BufferTooSmall { needed })
            );
            prop_assert!(short.iter().all(|&w| w == 0xdead_beef), "a refused write wrote");
        }

        let mut words = vec![0x5a5a_5a5a_5a5a_5a5au64; needed + extra];
        prop_assert_eq!(write_gpa_ranges(windows.iter().copied(), &mut words), Ok(needed));
        prop_assert!(words[needed..].iter().all(|&w| w == 0x5a5a_5a5a_5a5a_5a5a));

        // The words are the documented layout.
        let mut at = 0;
        for s in &specs {
            let (offset, len, gpns) = s.expected();
            prop_assert_eq!(words[at], header(len as u32, offset as u32));
            prop_assert_eq!(&words[at + 1..at + 1 + gpns.len()], gpns);
            at += 1 + gpns.len();
        }

        // Parsing gives the same windows back, describing the same bytes.
        let (parsed, used) = parse_gpa_ranges(&words, specs.len()).unwrap();
        prop_assert_eq!(used, needed);
        prop_assert_eq!(parsed.len(), specs.len());
        for (i, (s, p)) in specs.iter().zip(&parsed).enumerate() {
            let (offset, len, gpns) = s.expected();
            prop_assert_eq!(describe(p), (offset, len, gpns.to_vec()), "window {}", i);
            let runs = |w: &PagedRange<'_>| w.ranges().collect::<Result<Vec<_>, _>>();
            prop_assert_eq!(runs(p), runs(&windows[i]), "window {} runs", i);
        }

        // And writing them again gives the same words.
        let mut again = vec![0u64; needed];
        prop_assert_eq!(write_gpa_ranges(parsed.iter().copied(), &mut again), Ok(needed));
        prop_assert_eq!(&again[..], &words[..needed]);

        // Fewer ranges parse a prefix.
        if let Some(last) = specs.last() {
            let (head, used) = parse_gpa_ranges(&words, specs.len() - 1).unwrap();
            prop_assert_eq!(head.len(), specs.len() - 1);
            prop_assert_eq!(used, needed - 1 - last.expected().2.len());
        }
        // One range more than written: the trailing words (if any) are read
        // as a header, never past the end.
        let _ = parse_gpa_ranges(&words, specs.len() + 1);
        let past = parse_gpa_ranges(&words[..needed], specs.len() + 1).map(|(_, used)| used);
        prop_assert_eq!(
            past,
            Err(WireError::Truncated { range: specs.len(), word: needed, needed: 1 })
        );
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn parsing_arbitrary_words_agrees_with_the_model(words in words(), count in 0usize..8) {
        let got = parse_gpa_ranges(&words, count);
        let want = model(&words, count);
        match (&got, &want) {
            (Ok((windows, used)), Ok((model_windows, model_used))) => {
                prop_assert_eq!(used, model_used);
                let described: Vec<_> = windows.iter().map(|w| (w.parts().0, w.len())).collect();
                prop_assert_eq!(&described, model_windows);
                for w in windows {
                    // Every window borrows the input, and its runs are valid.
                    prop_assert!(core::ptr::eq(w.parts().1, &words[..]) || w.is_empty());
                    prop_assert!(w.ranges().all(|r| r.is_ok()));
                }
                // Re-encoding reproduces the input, except that an empty
                // range is written with offset 0.
                let mut again = vec![0u64; *used];
                prop_assert_eq!(write_gpa_ranges(windows.iter().copied(), &mut again), Ok(*used));
                let mut at = 0;
                let mut normalized = words[..*used].to_vec();
                for w in windows {
                    if w.is_empty() {
                        normalized[at] = 0;
                    }
                    at += 1 + w.gpns().len();
                }
                prop_assert_eq!(again, normalized);
            }
            (Err(e), Err(m)) => {
                prop_assert_eq!(e, m);
                let word = e.word().expect("parse errors name a word");
                match *e {
                    WireError::Truncated { range, word, needed } => {
                        prop_assert!(range < count);
                        prop_assert_eq!(word, words.len(), "the first missing word");
                        prop_assert!(needed > 0);
                    }
                    WireError::BadOffset { range, offset, .. } => {
                        prop_assert!(range < count);
                        prop_assert!(word < words.len());
                        prop_assert_eq!(words[word] >> 32, u64::from(offset));
                    }
                    WireError::InvalidGpn { range, gpn, .. } => {
                        prop_assert!(range < count);
                        prop_assert!(word < words.len());
                        prop_assert_eq!(words[word], gpn);
                    }
                    _ => prop_assert!(false, "not a parse error: {:?}", e),
                }
            }
            _ => prop_assert!(false, "library {:?}, model {:?}", got, want),
        }

        // parse_each hands over the same windows and reports the same end.
        let mut seen = Vec::new();
        let each = parse_each(&words, count, |w| seen.push(w));
        match got {
            Ok((windows, used)) => {
                prop_assert_eq!(each, Ok(used));
                prop_assert_eq!(seen, windows);
            }
            Err(e) => prop_assert_eq!(each, Err(e)),
        }
    }
}

#[test]
fn errors_on_hand_made_lists() {
    // The last byte of the highest page cannot be addressed; the byte before
    // it can.
    let ok = [header(P as u32 - 1, 0), MAX_GPN];
    assert_eq!(parse_gpa_ranges(&ok, 1).unwrap().1, 2);
    let bad = [header(1, P as u32 - 1), MAX_GPN];
    assert_eq!(
        parse_gpa_ranges(&bad, 1).unwrap_err(),
        WireError::InvalidGpn {
            range: 0,
            word: 1,
            gpn: MAX_GPN
        }
    );
    // Adjacent pages climbing past the highest page: the highest is blamed,
    // at its own word.
    let climb = [
        header(0, 0),
        header(3 * P as u32, 0),
        MAX_GPN - 1,
        MAX_GPN,
        MAX_GPN + 1,
    ];
    assert_eq!(
        parse_gpa_ranges(&climb, 2).unwrap_err(),
        WireError::InvalidGpn {
            range: 1,
            word: 3,
            gpn: MAX_GPN
        }
    );
    assert_eq!(
        model(&climb, 2).unwrap_err(),
        parse_gpa_ranges(&climb, 2).unwrap_err()
    );
    // Zero ranges need no words at all.
    assert_eq!(parse_gpa_ranges(&[], 0).unwrap().1, 0);
    assert_eq!(
        parse_gpa_ranges(&[], 1).unwrap_err(),
        WireError::Truncated {
            range: 0,
            word: 0,
            needed: 1
        }
    );
}
