//! HTML renderings of the engine's values, shared by the notebook faces:
//! the Jupyter kernel's MIME bundles and evcxr's `evcxr_display`.

use crate::generate::Candidate;
use crate::profile::Profile;

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Per-kernel timing, slowest first, each row with a bar of its share.
pub fn profile_html(profile: &Profile) -> String {
    let mut html = String::from(
        "<table class=\"monologue-profile\"><thead><tr><th>kernel</th><th>backend</th>\
         <th>calls</th><th>total ms</th><th>mean µs</th><th>share</th><th>GFLOP/s</th>\
         <th>GB/s</th></tr></thead><tbody>",
    );
    for r in profile.summary() {
        let bar = format!(
            "<div style=\"background:#4c78a8;height:0.8em;width:{:.1}px\"></div>",
            (r.share * 160.0).max(1.0)
        );
        // Numeric cells carry their exact value in `data-v`, which the
        // sorter compares (the shown text is rounded, and the share cell
        // holds a bar too).
        html += &format!(
            "<tr><td>{}</td><td>{}</td><td data-v=\"{}\">{}</td>\
             <td data-v=\"{}\">{:.3}</td><td data-v=\"{}\">{:.2}</td>\
             <td data-v=\"{}\" style=\"min-width:170px\">{bar}{:.1}%</td>\
             <td data-v=\"{}\">{:.2}</td><td data-v=\"{}\">{:.2}</td></tr>",
            escape(&r.kernel),
            escape(&r.backend),
            r.calls,
            r.calls,
            r.total_ms,
            r.total_ms,
            r.mean_us,
            r.mean_us,
            r.share,
            100.0 * r.share,
            r.gflops,
            r.gflops,
            r.gbps,
            r.gbps
        );
    }
    html + "</tbody></table>" + SORT_SCRIPT
}

/// Makes the table just before it sortable by clicking a column header
/// (again to reverse). Front ends that run output scripts (Jupyter with a
/// trusted notebook, the browser chat) get sorting; the others show the
/// table as it comes, already sorted by total time.
const SORT_SCRIPT: &str = "<script>(function (script) {\
var table = script.previousElementSibling; if (!table || !table.tHead) return;\
Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {\
th.style.cursor = 'pointer'; th.title = 'sort by ' + th.textContent;\
th.onclick = function () {\
var down = th.dataset.order !== 'down'; th.dataset.order = down ? 'down' : 'up';\
var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);\
rows.sort(function (a, b) { var x = a.cells[col], y = b.cells[col];\
var order = x.dataset.v !== undefined ? parseFloat(x.dataset.v) - parseFloat(y.dataset.v)\
: x.textContent.localeCompare(y.textContent); return down ? -order : order; });\
rows.forEach(function (r) { body.appendChild(r); }); }; });\
})(document.currentScript);</script>";

/// A text cut into its tokens: each token a coloured span (alternating
/// hues, so boundaries show), its id in the tooltip.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenView {
    /// (id, the token as a person reads it).
    pub tokens: Vec<(u32, String)>,
}

impl TokenView {
    pub fn text(&self) -> String {
        let pieces: Vec<String> = self.tokens.iter().map(|(_, t)| format!("{t:?}")).collect();
        format!("{} tokens: [{}]", self.tokens.len(), pieces.join(", "))
    }

    pub fn html(&self) -> String {
        const HUES: [&str; 6] = [
            "#fde2e4", "#e2ece9", "#dfe7fd", "#fff1c1", "#e8dff5", "#d8f3dc",
        ];
        let spans: String = self
            .tokens
            .iter()
            .enumerate()
            .map(|(i, (id, t))| {
                let shown = escape(t).replace('\n', "⏎<br>");
                format!(
                    "<span title=\"{id}\" style=\"background:{};border-radius:3px;padding:1px 0;white-space:pre-wrap\">{shown}</span>",
                    HUES[i % HUES.len()]
                )
            })
            .collect();
        format!("<div style=\"font-family:monospace;line-height:1.8\">{spans}</div><small>{} tokens</small>", self.tokens.len())
    }
}

/// The most likely next tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct TopK {
    /// (candidate, its text).
    pub rows: Vec<(Candidate, String)>,
}

impl TopK {
    pub fn text(&self) -> String {
        let mut out = String::from("id      prob    logit    token\n");
        for (c, t) in &self.rows {
            out += &format!("{:<7} {:.4}  {:>7.3}  {t:?}\n", c.id, c.prob, c.logit);
        }
        out
    }

    pub fn html(&self) -> String {
        let mut html = String::from(
            "<table><thead><tr><th>token</th><th>id</th><th>probability</th><th>logit</th></tr></thead><tbody>",
        );
        for (c, t) in &self.rows {
            html += &format!(
                "<tr><td><code>{}</code></td><td>{}</td><td><div style=\"background:#4c78a8;height:0.8em;width:{:.1}px\"></div>{:.4}</td><td>{:.3}</td></tr>",
                escape(&format!("{t:?}")),
                c.id,
                (c.prob * 160.0).max(1.0),
                c.prob,
                c.logit
            );
        }
        html + "</tbody></table>"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_spans_alternate_and_escape() {
        let v = TokenView {
            tokens: vec![(1, "<a>".into()), (2, " b".into()), (3, "\n".into())],
        };
        let html = v.html();
        assert_eq!(html.matches("<span").count(), 3);
        assert!(html.contains("&lt;a&gt;") && html.contains("title=\"2\""));
        assert!(html.contains("⏎<br>"));
        assert_eq!(v.text(), "3 tokens: [\"<a>\", \" b\", \"\\n\"]");
    }

    #[test]
    fn profile_cells_carry_exact_values_for_sorting() {
        use crate::profile::KernelRecord;
        let record = |name, ns| KernelRecord {
            name,
            backend: "cpu",
            shapes: String::new(),
            bytes: 1000,
            flops: 2000,
            start_ns: 0,
            duration_ns: ns,
        };
        let profile = Profile::new(vec![
            record("small", 1_000),
            record("big", 3_000),
            record("big", 5_000),
        ]);
        let html = profile_html(&profile);
        // Rows come sorted by total time; the sorter compares data-v.
        assert!(html.find(">big<").unwrap() < html.find(">small<").unwrap());
        let values: Vec<f64> = html
            .split("data-v=\"")
            .skip(1)
            .map(|rest| rest[..rest.find('"').unwrap()].parse().unwrap())
            .collect();
        // calls, total ms, mean µs, share, GFLOP/s, GB/s for each of 2 rows.
        assert_eq!(values.len(), 12);
        assert_eq!(&values[..4], &[2.0, 0.008, 4.0, 8.0 / 9.0]);
        assert!(html.contains("<script>") && html.contains("document.currentScript"));
        assert_eq!(html.matches("<th>").count(), 8);
    }
}
