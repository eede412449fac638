//! The two text formats `/metrics` answers in, chosen from the scraper's `Accept` header:
//! OpenMetrics 1.0 by default, Prometheus text 0.0.4 to scrapers that ask only for `text/plain`.

/// OpenMetrics text, what `prometheus-client` encodes.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The Prometheus text format 0.0.4, which older agents still ask for.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A format `/metrics` can answer in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    Text004,
}

impl Format {
    /// The format for an `Accept` header: OpenMetrics when the scraper accepts it (Prometheus
    /// does, first), or sends no header or only types neither format is; text 0.0.4 when it
    /// accepts `text/plain` (version 0.0.4 or none) and not OpenMetrics, as Telegraf and
    /// Prometheus with `scrape_protocols: [PrometheusText0.0.4]` do.
    #[must_use]
    pub fn negotiate(accept: Option<&str>) -> Self {
        let Some(accept) = accept else {
            return Self::OpenMetrics;
        };
        let mut openmetrics = false;
        let mut text = false;
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media_type = parts.next().unwrap_or_default().to_ascii_lowercase();
            let mut quality_zero = false;
            let mut version = None;
            for parameter in parts {
                let Some((name, value)) = parameter.split_once('=') else {
                    continue;
                };
                let value = value.trim().trim_matches('"');
                match name.trim().to_ascii_lowercase().as_str() {
                    "q" => quality_zero = value.parse::<f32>().is_ok_and(|q| q <= 0.0),
                    "version" => version = Some(value.to_owned()),
                    _ => {}
                }
            }
            if quality_zero {
                continue;
            }
            match media_type.as_str() {
                "application/openmetrics-text" => openmetrics = true,
                "text/plain" if version.as_deref().is_none_or(|v| v == "0.0.4") => text = true,
                _ => {}
            }
        }
        if text && !openmetrics {
            Self::Text004
        } else {
            Self::OpenMetrics
        }
    }

    #[must_use]
    pub fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Self::Text004 => TEXT_CONTENT_TYPE,
        }
    }
}

/// OpenMetrics text as `prometheus-client` writes it, rewritten to the text format 0.0.4: no
/// `# EOF` and no `# UNIT`, counters' `# HELP` and `# TYPE` name the `_total` series (OpenMetrics
/// names the family without it), `unknown` is `untyped`, and `\"` in `# HELP` is unescaped (0.0.4
/// escapes only backslashes and line feeds there). Samples are the same in both formats, as long
/// as no exemplars or `_created` series are written, which this operator does not.
#[must_use]
pub fn openmetrics_to_text_004(openmetrics: &str) -> String {
    use std::fmt::Write as _;
    let mut counters = std::collections::HashSet::new();
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ")
            && let Some((name, "counter")) = rest.split_once(' ')
        {
            counters.insert(name);
        }
    }
    let total = |name: &str| {
        if counters.contains(name) {
            format!("{name}_total")
        } else {
            name.to_owned()
        }
    };
    let mut text = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, metric_type) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let metric_type = if metric_type == "unknown" {
                "untyped"
            } else {
                metric_type
            };
            let _ = writeln!(text, "# TYPE {} {metric_type}", total(name));
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            let help = help.replace("\\\"", "\"");
            let _ = writeln!(text, "# HELP {} {help}", total(name));
        } else {
            text.push_str(line);
            text.push('\n');
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_gets_openmetrics_and_a_scraper_asking_only_for_text_gets_text() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(None), Format::OpenMetrics);
        assert_eq!(Format::negotiate(Some("*/*")), Format::OpenMetrics);
        assert_eq!(
            Format::negotiate(Some("application/json")),
            Format::OpenMetrics
        );
        assert_eq!(
            Format::negotiate(Some("text/plain;version=0.0.4")),
            Format::Text004
        );
        assert_eq!(Format::negotiate(Some("text/plain")), Format::Text004);
        let telegraf = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3";
        assert_eq!(Format::negotiate(Some(telegraf)), Format::Text004);
        assert_eq!(
            Format::negotiate(Some(
                "text/plain; version=0.0.4, application/openmetrics-text; q=0"
            )),
            Format::Text004
        );
        assert_eq!(
            Format::negotiate(Some("text/plain;version=1.0.0")),
            Format::OpenMetrics
        );
    }

    #[test]
    fn text_004_names_counters_with_total_and_drops_unit_and_eof() {
        let openmetrics = "# HELP ontap_ipsec_polls Polls by outcome.\n\
            # TYPE ontap_ipsec_polls counter\n\
            ontap_ipsec_polls_total{outcome=\"success\"} 3\n\
            # HELP ontap_ipsec_poll_duration_seconds Time \\\"to\\\" poll.\n\
            # TYPE ontap_ipsec_poll_duration_seconds histogram\n\
            # UNIT ontap_ipsec_poll_duration_seconds seconds\n\
            ontap_ipsec_poll_duration_seconds_sum 0.5\n\
            ontap_ipsec_poll_duration_seconds_count 1\n\
            ontap_ipsec_poll_duration_seconds_bucket{le=\"+Inf\"} 1\n\
            # HELP odd Unknown.\n\
            # TYPE odd unknown\n\
            odd 1\n\
            # EOF\n";
        assert_eq!(
            openmetrics_to_text_004(openmetrics),
            "# HELP ontap_ipsec_polls_total Polls by outcome.\n\
            # TYPE ontap_ipsec_polls_total counter\n\
            ontap_ipsec_polls_total{outcome=\"success\"} 3\n\
            # HELP ontap_ipsec_poll_duration_seconds Time \"to\" poll.\n\
            # TYPE ontap_ipsec_poll_duration_seconds histogram\n\
            ontap_ipsec_poll_duration_seconds_sum 0.5\n\
            ontap_ipsec_poll_duration_seconds_count 1\n\
            ontap_ipsec_poll_duration_seconds_bucket{le=\"+Inf\"} 1\n\
            # HELP odd Unknown.\n\
            # TYPE odd untyped\n\
            odd 1\n"
        );
    }
}
