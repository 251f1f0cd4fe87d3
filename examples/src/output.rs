//! How results are printed: diagnostics in three formats, an app's endpoints
//! and links after a deploy, and the services table.

use convox_model::check::Checked;
use convox_model::diag::{Diagnostic, Diagnostics, Severity};
use convox_model::inventory::{DeployedEndpoint, links_as_seen};
use convox_model::name::Name;
use convox_model::rack::Rack;
use convox_model::routes::ServiceRoute;

use crate::Io;
use crate::cli::Format;

/// Prints diagnostics about `file`: as text on stderr, or as JSON or GitHub
/// workflow commands on stdout (where a machine reads them). JSON is printed
/// even when empty, so that a reader always gets one list.
pub fn print_diagnostics(file: &str, d: &Diagnostics, format: Format, io: &mut Io<'_>) {
    match format {
        Format::Text => {
            if !d.is_empty() {
                let _ = writeln!(io.err, "{}", d.render(file));
            }
        }
        Format::Json => {
            let list: Vec<serde_json::Value> = d.0.iter().map(|x| json(file, x)).collect();
            let text = serde_json::to_string_pretty(&list).unwrap_or_else(|_| "[]".into());
            let _ = writeln!(io.out, "{text}");
        }
        Format::Github => {
            for x in &d.0 {
                let _ = writeln!(io.out, "{}", github(file, x));
            }
        }
    }
}

/// One diagnostic as a JSON object; `line`, `column` and `hint` are null when
/// unknown, `path` is empty for the document as a whole.
pub fn json(file: &str, d: &Diagnostic) -> serde_json::Value {
    serde_json::json!({
        "file": file,
        "path": d.path,
        "line": d.location.map(|l| l.line),
        "column": d.location.map(|l| l.column),
        "severity": severity(d.severity),
        "message": d.message,
        "hint": d.hint,
    })
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// One diagnostic as a GitHub Actions workflow command:
/// `::error file=F,line=L,col=C::PATH: MESSAGE` (`::warning` for warnings), the
/// hint on a second line of the message.
pub fn github(file: &str, d: &Diagnostic) -> String {
    let mut props = format!("file={}", escape_property(file));
    if let Some(l) = d.location {
        props.push_str(&format!(",line={},col={}", l.line, l.column));
    }
    let mut message = if d.path.is_empty() {
        d.message.clone()
    } else {
        format!("{}: {}", d.path, d.message)
    };
    if let Some(h) = &d.hint {
        message.push_str(&format!("\nhint: {h}"));
    }
    format!(
        "::{} {props}::{}",
        severity(d.severity),
        escape_data(&message)
    )
}

/// GitHub's escaping of a workflow command's message.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// GitHub's escaping of a workflow command's property value.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// The app's endpoints, then each service's link variables as the service sees
/// them (a declared variable of the same name wins over the link).
pub fn print_endpoints_and_links(c: &Checked, rack: &Rack, app: &Name, io: &mut Io<'_>) {
    let _ = writeln!(io.out, "\nEndpoints:");
    if c.endpoints.is_empty() {
        let _ = writeln!(io.out, "  none: no service has a port");
    }
    let width = c
        .endpoints
        .iter()
        .map(|e| e.service.as_str().len())
        .max()
        .unwrap_or(0);
    for e in &c.endpoints {
        let _ = writeln!(
            io.out,
            "  {:<width$}  {:<8}  {}",
            e.service.as_str(),
            e.router.as_str(),
            e.url()
        );
    }
    let links = links_as_seen(c, rack, app);
    if !links.is_empty() {
        let _ = writeln!(io.out, "\nLinks:");
        for l in links {
            let _ = writeln!(io.out, "  {}: {}={}", l.service, l.var, l.value);
        }
    }
}

/// `convox services`: a table, or JSON, where each endpoint carries its
/// route ([`ServiceRoute`], the one a deploy's report gives) when it has one.
pub fn print_services(
    list: &[DeployedEndpoint],
    routes: &[ServiceRoute],
    json: bool,
    io: &mut Io<'_>,
) {
    if json {
        let items: Vec<serde_json::Value> = list
            .iter()
            .map(|d| {
                let route = routes
                    .iter()
                    .find(|r| r.service == d.endpoint.service && r.router == d.endpoint.router);
                serde_json::json!({
                    "service": d.endpoint.service,
                    "router": d.endpoint.router,
                    "hostname": d.endpoint.hostname,
                    "url": d.endpoint.url(),
                    "deployed": d.deployed,
                    "target_group": d.target_group,
                    "route": route,
                })
            })
            .collect();
        let text = serde_json::to_string_pretty(&items).unwrap_or_else(|_| "[]".into());
        let _ = writeln!(io.out, "{text}");
        return;
    }
    let rows: Vec<[String; 5]> = list
        .iter()
        .map(|d| {
            let (port, tg) = match &d.target_group {
                Some(t) => (t.port.to_string(), t.arn.clone()),
                None => ("-".into(), "-".into()),
            };
            let url = if d.deployed {
                d.endpoint.url()
            } else {
                format!("{} (not deployed)", d.endpoint.url())
            };
            [
                d.endpoint.service.to_string(),
                d.endpoint.router.to_string(),
                url,
                port,
                tg,
            ]
        })
        .collect();
    let header = ["SERVICE", "ROUTER", "ENDPOINT", "PORT", "TARGET GROUP"].map(String::from);
    let mut widths = [0; 5];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect::<Vec<_>>()
            .join("  ");
        let _ = writeln!(io.out, "{}", line.trim_end());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use convox_model::diag::Location;

    #[test]
    fn github_commands_escape_and_place() {
        let d = Diagnostic::error("services.web", "bad, very: 100%")
            .with_hint("fix it")
            .at(Some(Location { line: 3, column: 5 }));
        assert_eq!(
            github("a,b:c.yml", &d),
            "::error file=a%2Cb%3Ac.yml,line=3,col=5::services.web: bad, very: 100%25%0Ahint: fix it"
        );
        let w = Diagnostic::warning("", "odd");
        assert_eq!(github("f", &w), "::warning file=f::odd");
    }
}
