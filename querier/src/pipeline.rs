//! A compiled log pipeline ([`Pipeline`]): the stage objects of one execution of a query's
//! pipeline, run line by line, producing the labels each line ends up with (stream labels,
//! structured metadata and extracted labels) and its new text, or nothing when a stage drops it.
//!
//! Built fresh for every execution ([`Pipeline::compile`]): state a stage keeps (`distinct`)
//! never spans two executions. Loki's semantics are the stages' (`stages/`); a parse failure
//! sets `__error__` and keeps the line.

use logq_storage::LabelSet;

use crate::error::QueryError;
use crate::line_labels::LineLabels;
use crate::logql::LogExpr;
use crate::stages::{self, LabelUse, LineFilter, LineStage, Step};

/// A line that passed the pipeline: its labels, and its new text if a stage rewrote it.
#[derive(Debug, Clone)]
pub struct Processed<'a> {
    /// The line's labels.
    pub labels: LineLabels<'a>,
    /// The rewritten line (`line_format`, `unpack`, `decolorize`), if any.
    pub line: Option<String>,
}

/// The stages of one execution of a log pipeline.
pub struct Pipeline {
    stages: Vec<Box<dyn LineStage>>,
}

impl Pipeline {
    /// Builds the stages of `expr`'s pipeline, with nothing seen yet.
    pub fn compile(expr: &LogExpr) -> Result<Self, QueryError> {
        Ok(Pipeline {
            stages: expr
                .pipeline
                .iter()
                .map(stages::build)
                .collect::<Result<_, _>>()?,
        })
    }

    /// Runs the pipeline over `line` (at `ts`) of `stream` with structured metadata `metadata`
    /// (which the stages see as labels); `None` when a stage drops it.
    pub fn process<'a>(
        &mut self,
        stream: &'a LabelSet,
        metadata: &[(String, String)],
        ts: i64,
        line: &str,
    ) -> Option<Processed<'a>> {
        let mut labels = LineLabels::with_metadata(stream, metadata);
        let mut rewritten: Option<String> = None;
        for stage in &mut self.stages {
            let cur: &str = rewritten.as_deref().unwrap_or(line);
            match stage.process(ts, cur, &mut labels) {
                Step::Keep => {}
                Step::Rewrite(text) => rewritten = Some(text),
                Step::Drop => return None,
            }
        }
        Some(Processed {
            labels,
            line: rewritten,
        })
    }

    /// Whether the pipeline has only line filters (lines keep their stream's labels and text).
    pub(crate) fn is_filter_only(&self) -> bool {
        self.stages.iter().all(|s| s.as_line_filter().is_some())
    }

    /// Whether `line` passes every line filter (ignores the other stages).
    pub fn matches_line(&self, line: &str) -> bool {
        self.stages
            .iter()
            .filter_map(|s| s.as_line_filter())
            .all(|f| f.matches(line))
    }

    /// The line filters before any other stage (they decide alone: pushed down into readers).
    pub(crate) fn leading_line_filters(&self) -> Vec<LineFilter> {
        self.stages
            .iter()
            .map_while(|s| s.as_line_filter())
            .cloned()
            .collect()
    }

    /// Loki's parser hints for a sample extractor that needs no label: when no stage reads a
    /// label, the stages that only extract labels (`json`, `logfmt`, `unpack`) return at once
    /// in Loki, so they are left out (a line they cannot parse is then no error). Returns
    /// whether any stage was left out.
    pub(crate) fn skip_unneeded_parsers(&mut self) -> bool {
        if self.stages.iter().any(|s| s.label_use() == LabelUse::Reads) {
            return false;
        }
        let before = self.stages.len();
        self.stages.retain(|s| s.label_use() != LabelUse::Extracts);
        self.stages.len() != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logql::parse_log_selector;

    fn run(q: &str, stream: &str, line: &str) -> Option<String> {
        let e = parse_log_selector(q).unwrap();
        let s = LabelSet::parse(stream).unwrap();
        let mut p = Pipeline::compile(&e).unwrap();
        p.process(&s, &[], 0, line)
            .map(|p| p.labels.into_labels().to_string())
    }

    #[test]
    fn structured_metadata_is_labels() {
        let e = parse_log_selector(r#"{app="a"} | logfmt"#).unwrap();
        let s = LabelSet::parse(r#"{app="a"}"#).unwrap();
        let meta = vec![
            ("app".to_string(), "m".to_string()),
            ("k8s.pod".to_string(), "p".to_string()),
            ("1x".to_string(), "d".to_string()),
            ("_y".to_string(), "u".to_string()),
            ("level".to_string(), "meta".to_string()),
        ];
        let got = Pipeline::compile(&e)
            .unwrap()
            .process(&s, &meta, 0, "level=parsed")
            .unwrap();
        // Parsed labels replace structured metadata of the same name.
        assert_eq!(
            got.labels.into_labels().to_string(),
            r#"{app="a", app_extracted="m", k8s_pod="p", key_1x="d", key_y="u", level="parsed"}"#
        );
    }

    #[test]
    fn json_flattens_and_renames_clashes() {
        let got = run(
            r#"{app="a"} | json"#,
            r#"{app="a"}"#,
            r#"{"app":"x","req":{"method":"GET","code":200},"ok":true,"tags":[1]}"#,
        );
        assert_eq!(
            got.unwrap(),
            r#"{app="a", app_extracted="x", ok="true", req_code="200", req_method="GET"}"#
        );
        let got = run(r#"{app="a"} | json"#, r#"{app="a"}"#, "not json").unwrap();
        assert!(got.contains(r#"__error__="JSONParserErr""#), "{got}");
    }

    #[test]
    fn json_fields_as_lokis_parser_reads_them() {
        let q = r#"{app="a"} | json"#;
        // Numbers keep their text; arrays and nulls are skipped; nested keys joined with `_`.
        let got = run(
            q,
            r#"{app="a"}"#,
            r#"{"n": 1.50, "e": 1e3, "s": "x\"y", "arr": [1, {"z": 2}], "nil": null, "o": {"1k": true}} tail"#,
        )
        .unwrap();
        assert_eq!(got, r#"{app="a", e="1e3", n="1.50", o_1k="true", s="x\"y"}"#);
        // Fields before a syntax error are kept, with the error.
        let got = run(q, r#"{app="a"}"#, r#"{"a": "1", "b": }"#).unwrap();
        assert!(got.contains(r#"a="1""#) && got.contains("JSONParserErr"), "{got}");
    }

    #[test]
    fn logfmt_and_filters() {
        let line = r#"level=error msg="disk full" duration=1.5s size=10KB status=503"#;
        let q = r#"{app="a"} | logfmt | status >= 500 and duration > 1s and size > 9KB"#;
        let got = run(q, r#"{app="a"}"#, line).unwrap();
        assert!(got.contains(r#"msg="disk full""#), "{got}");
        assert!(run(r#"{app="a"} | logfmt | status < 500"#, r#"{app="a"}"#, line).is_none());
        assert!(run(r#"{app="a"} | logfmt | missing > 1"#, r#"{app="a"}"#, line).is_none());
        let got = run(r#"{app="a"} | logfmt | msg > 1"#, r#"{app="a"}"#, line).unwrap();
        assert!(got.contains("LabelFilterErr"), "{got}");
        assert!(run(
            r#"{app="a"} | logfmt | level=~"err.*" or level="warn""#,
            r#"{app="a"}"#,
            line
        )
        .is_some());
        assert!(run(r#"{app="a"} | logfmt | level!="error""#, r#"{app="a"}"#, line).is_none());
        let with_ip = "level=info client=10.1.2.3";
        assert!(run(
            r#"{app="a"} | logfmt | client = ip("10.0.0.0/8")"#,
            r#"{app="a"}"#,
            with_ip
        )
        .is_some());
        assert!(run(
            r#"{app="a"} | logfmt | client != ip("10.0.0.0/8")"#,
            r#"{app="a"}"#,
            with_ip
        )
        .is_none());
        assert!(run(
            r#"{app="a"} |= "disk" | logfmt | __error__="""#,
            r#"{app="a"}"#,
            line
        )
        .is_some());
    }
}
