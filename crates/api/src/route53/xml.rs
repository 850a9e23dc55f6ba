//! Writing the Route 53 API's XML responses: escaping, and elements in the order the API
//! reference gives them (botocore's parser reads them by name, other SDKs by schema).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `text` with XML's special characters escaped.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// An XML document being written.
#[derive(Debug, Default)]
pub(crate) struct Doc(String);

impl Doc {
    /// A document whose root is `root`, in the API's namespace.
    pub(crate) fn new(root: &str) -> Doc {
        Doc(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root} xmlns=\"{}\">",
            super::NAMESPACE
        ))
    }

    /// `<name>text</name>`.
    pub(crate) fn leaf(&mut self, name: &str, text: impl std::fmt::Display) -> &mut Self {
        let text = escape(&text.to_string());
        self.0.push_str(&format!("<{name}>{text}</{name}>"));
        self
    }

    /// `<name>text</name>` when there is a text.
    pub(crate) fn opt(&mut self, name: &str, text: Option<impl std::fmt::Display>) -> &mut Self {
        if let Some(t) = text {
            self.leaf(name, t);
        }
        self
    }

    /// `<name>`.
    pub(crate) fn open(&mut self, name: &str) -> &mut Self {
        self.0.push_str(&format!("<{name}>"));
        self
    }

    /// `</name>`.
    pub(crate) fn close(&mut self, name: &str) -> &mut Self {
        self.0.push_str(&format!("</{name}>"));
        self
    }

    /// The document, its root closed.
    pub(crate) fn finish(mut self, root: &str) -> String {
        self.close(root);
        self.0
    }
}

/// An XML response.
pub(crate) fn response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/xml")], body).into_response()
}
