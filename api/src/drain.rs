//! Drain, the log-template miner Loki's pattern ingester uses (He et al. 2017, as in Loki's
//! `pkg/pattern/drain`): lines are tokenised, routed through a fixed-depth prefix tree keyed by
//! token count and leading tokens (tokens with digits go to a wildcard child), and joined to
//! the most similar cluster of their leaf when at least `sim_threshold` of the tokens agree;
//! differing positions become the variable `<_>`.
//!
//! Bounded: at most `max_clusters` clusters (a new one beyond that evicts the least recently
//! matched), `max_children` per tree node, `max_tokens` tokens per line (the rest is one
//! variable). Memory is therefore proportional to those limits, not to the lines seen.

use std::collections::HashMap;

/// The variable token in patterns (Loki's `<_>`).
pub const PARAM: &str = "<_>";

/// Drain's settings (Loki's defaults).
#[derive(Debug, Clone)]
pub struct DrainConfig {
    /// Prefix-tree depth (levels of leading tokens), Loki's `LogClusterDepth` minus 2.
    pub depth: usize,
    /// Share of equal tokens needed to join a cluster.
    pub sim_threshold: f64,
    /// Children per tree node before new tokens go to the wildcard child.
    pub max_children: usize,
    /// Clusters kept.
    pub max_clusters: usize,
    /// Tokens per line considered.
    pub max_tokens: usize,
}

impl Default for DrainConfig {
    fn default() -> Self {
        DrainConfig {
            depth: 28,
            sim_threshold: 0.3,
            max_children: 15,
            max_clusters: 300,
            max_tokens: 128,
        }
    }
}

/// A token and whether a space preceded it (to print the pattern as the line was written).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    text: String,
    spaced: bool,
}

/// Splits a line into tokens: on whitespace, and `key=value` into `key=` and `value` (so
/// logfmt keys stay constant while values vary).
fn tokenize(line: &str, max: usize) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::new();
    let mut words = line.split_whitespace();
    for word in words.by_ref() {
        if out.len() + 1 >= max {
            out.push(Token {
                text: PARAM.to_string(),
                spaced: !out.is_empty(),
            });
            break;
        }
        match word.find('=') {
            Some(i) if i > 0 && i + 1 < word.len() => {
                out.push(Token {
                    text: word[..=i].to_string(),
                    spaced: !out.is_empty(),
                });
                out.push(Token {
                    text: word[i + 1..].to_string(),
                    spaced: false,
                });
            }
            _ => out.push(Token {
                text: word.to_string(),
                spaced: !out.is_empty(),
            }),
        }
    }
    out
}

fn has_digit(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_digit())
}

/// One pattern and how often it was seen.
#[derive(Debug, Clone)]
pub struct Cluster {
    tokens: Vec<Token>,
    /// Lines joined to it.
    pub count: u64,
    last_used: u64,
}

impl Cluster {
    /// The pattern text, `<_>` where lines differ.
    pub fn pattern(&self) -> String {
        let mut out = String::new();
        for t in &self.tokens {
            if t.spaced {
                out.push(' ');
            }
            out.push_str(&t.text);
        }
        out
    }
}

#[derive(Default)]
struct Node {
    children: HashMap<String, Node>,
    clusters: Vec<usize>,
}

/// The miner.
pub struct Drain {
    config: DrainConfig,
    root: HashMap<usize, Node>,
    clusters: Vec<Option<Cluster>>,
    free: Vec<usize>,
    clock: u64,
}

impl Drain {
    /// An empty miner.
    pub fn new(config: DrainConfig) -> Self {
        Drain {
            config,
            root: HashMap::new(),
            clusters: Vec::new(),
            free: Vec::new(),
            clock: 0,
        }
    }

    /// Adds a line; returns the id of its cluster and whether that cluster is new (an id can
    /// be reused after its cluster was evicted).
    pub fn train(&mut self, line: &str) -> Option<(usize, bool)> {
        let tokens = tokenize(line, self.config.max_tokens);
        if tokens.is_empty() {
            return None;
        }
        self.clock += 1;
        let depth = self.config.depth.min(tokens.len());
        let max_children = self.config.max_children;
        let sim = self.config.sim_threshold;
        let clusters = &self.clusters;
        // Walk (and grow) the tree to the leaf for this line.
        let mut node = self.root.entry(tokens.len()).or_default();
        for t in tokens.iter().take(depth) {
            let key = if has_digit(&t.text) {
                PARAM.to_string()
            } else if node.children.contains_key(&t.text) || node.children.len() + 1 < max_children {
                t.text.clone()
            } else {
                PARAM.to_string()
            };
            node = node.children.entry(key).or_default();
        }
        let best = node
            .clusters
            .iter()
            .filter_map(|&id| clusters.get(id).and_then(Option::as_ref).map(|c| (id, c)))
            .map(|(id, c)| {
                let (same, params) = c
                    .tokens
                    .iter()
                    .zip(&tokens)
                    .fold((0usize, 0usize), |(s, p), (a, b)| {
                        if a.text == PARAM {
                            (s, p + 1)
                        } else if a.text == b.text {
                            (s + 1, p)
                        } else {
                            (s, p)
                        }
                    });
                (id, same as f64 / tokens.len() as f64, params)
            })
            .filter(|(_, s, _)| *s >= sim)
            .max_by(|a, b| a.1.total_cmp(&b.1).then(a.2.cmp(&b.2)))
            .map(|(id, _, _)| id);
        if let Some(id) = best {
            let clock = self.clock;
            if let Some(c) = self.clusters[id].as_mut() {
                for (a, b) in c.tokens.iter_mut().zip(&tokens) {
                    if a.text != b.text {
                        a.text = PARAM.to_string();
                    }
                }
                c.count += 1;
                c.last_used = clock;
            }
            return Some((id, false));
        }
        let cluster = Cluster {
            tokens: tokens
                .into_iter()
                .map(|t| {
                    if has_digit(&t.text) {
                        Token {
                            text: PARAM.to_string(),
                            spaced: t.spaced,
                        }
                    } else {
                        t
                    }
                })
                .collect(),
            count: 1,
            last_used: self.clock,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.clusters[id] = Some(cluster);
                id
            }
            None => {
                self.clusters.push(Some(cluster));
                self.clusters.len() - 1
            }
        };
        node.clusters.push(id);
        if self.live() > self.config.max_clusters {
            self.evict_oldest(id);
        }
        Some((id, true))
    }

    fn live(&self) -> usize {
        self.clusters.iter().filter(|c| c.is_some()).count()
    }

    /// Drops the least recently matched cluster other than `keep` (its id is reused; stale
    /// ids in the tree are skipped until then, and re-pointed when reused).
    fn evict_oldest(&mut self, keep: usize) {
        let victim = self
            .clusters
            .iter()
            .enumerate()
            .filter(|(id, c)| *id != keep && c.is_some())
            .min_by_key(|(_, c)| c.as_ref().map_or(u64::MAX, |c| c.last_used))
            .map(|(id, _)| id);
        if let Some(v) = victim {
            self.clusters[v] = None;
            fn unlink(node: &mut Node, v: usize) {
                node.clusters.retain(|&c| c != v);
                for child in node.children.values_mut() {
                    unlink(child, v);
                }
            }
            for n in self.root.values_mut() {
                unlink(n, v);
            }
            self.free.push(v);
        }
    }

    /// The cluster with this id, if still kept.
    pub fn cluster(&self, id: usize) -> Option<&Cluster> {
        self.clusters.get(id).and_then(Option::as_ref)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similar_lines_share_a_pattern() {
        let mut d = Drain::new(DrainConfig::default());
        let a = d
            .train("level=info msg=\"request done\" status=200 took=15ms")
            .unwrap()
            .0;
        let b = d
            .train("level=info msg=\"request done\" status=404 took=3ms")
            .unwrap()
            .0;
        let c = d.train("connection from 10.0.0.1 closed").unwrap().0;
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            d.cluster(a).unwrap().pattern(),
            "level=info msg=\"request done\" status=<_> took=<_>"
        );
        assert_eq!(d.cluster(a).unwrap().count, 2);
        assert_eq!(d.cluster(c).unwrap().pattern(), "connection from <_> closed");
    }

    #[test]
    fn words_that_differ_become_variables() {
        let mut d = Drain::new(DrainConfig::default());
        let names: Vec<String> = (b'a'..=b't').map(|c| (c as char).to_string().repeat(3)).collect();
        let ids: Vec<usize> = names
            .iter()
            .map(|n| d.train(&format!("user {n} logged in")).unwrap().0)
            .collect();
        // Past `max_children` distinct words the tree sends lines to one wildcard leaf.
        let last = *ids.last().unwrap();
        assert_eq!(d.cluster(last).unwrap().pattern(), "user <_> logged in");
        assert!(d.cluster(last).unwrap().count >= 5);
    }

    #[test]
    fn clusters_are_bounded() {
        let mut d = Drain::new(DrainConfig {
            max_clusters: 5,
            ..Default::default()
        });
        for i in 0..50 {
            let words: String = (0..(i % 20 + 1)).map(|_| "w ").collect();
            d.train(&format!("{words}end"));
        }
        assert!(d.live() <= 5);
    }
}
