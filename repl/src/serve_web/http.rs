//! Just enough HTTP/1.1 to serve files to a browser on this machine, with
//! every size a client controls bounded: a request line or header line of
//! at most [`MAX_LINE`] bytes, at most [`MAX_HEADERS`] headers, a deadline
//! for the whole head, and an idle timeout between requests on a kept-alive
//! connection. A client that sends an endless header line gets a 431 and
//! the connection closed after 8 KiB, not gigabytes of buffer.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The longest request line or header line read.
pub const MAX_LINE: usize = 8 * 1024;
/// The most header lines one request may have.
pub const MAX_HEADERS: usize = 64;
/// How long a client may take to send a request's head.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(10);
/// How long a kept-alive connection may wait for its next request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(15);

/// A request's head (the bodies of GET and HEAD are empty).
#[derive(Debug)]
pub struct Request {
    pub method: String,
    /// The request target as sent (path and query).
    pub target: String,
    headers: Vec<(String, String)>,
    /// HTTP/1.1 without `Connection: close`.
    pub keep_alive: bool,
}

impl Request {
    /// A header's value (names compare without case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request could not be read: the status to answer with, if any.
#[derive(Debug)]
pub enum BadRequest {
    /// The client closed the connection or went quiet: answer nothing.
    Gone,
    /// Answer with this status and close.
    Status(u16, &'static str),
}

impl From<io::Error> for BadRequest {
    fn from(_: io::Error) -> Self {
        BadRequest::Gone
    }
}

/// Reads the next request's head. `Err(Gone)` when the client closed the
/// connection (or sent nothing before the idle timeout).
pub fn read_request(reader: &mut BufReader<TcpStream>) -> Result<Request, BadRequest> {
    reader.get_ref().set_read_timeout(Some(IDLE_TIMEOUT))?;
    // Skip the blank lines a client may send between requests.
    let mut line = String::new();
    while line.is_empty() {
        line = read_line(reader, None)?.ok_or(BadRequest::Gone)?;
    }
    let deadline = Instant::now() + HEAD_DEADLINE;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(BadRequest::Status(400, "a malformed request line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(BadRequest::Status(505, "only HTTP/1.x is served"));
    }
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader, Some(deadline))?
            .ok_or(BadRequest::Status(400, "the request ended inside its head"))?;
        if line.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADERS {
            return Err(BadRequest::Status(431, "too many header lines"));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(BadRequest::Status(400, "a header line without a colon"));
        };
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let request = Request {
        method: method.to_string(),
        target: target.to_string(),
        headers,
        keep_alive: false,
    };
    let close = request
        .header("Connection")
        .is_some_and(|c| c.eq_ignore_ascii_case("close"));
    Ok(Request {
        keep_alive: version == "HTTP/1.1" && !close,
        ..request
    })
}

/// One line without its CRLF, at most [`MAX_LINE`] bytes; `None` at the end
/// of the stream before any byte. Past `deadline`, the read fails.
fn read_line(
    reader: &mut BufReader<TcpStream>,
    deadline: Option<Instant>,
) -> Result<Option<String>, BadRequest> {
    let mut line = Vec::new();
    loop {
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(BadRequest::Status(408, "the request head took too long"));
            }
            reader.get_ref().set_read_timeout(Some(left))?;
        }
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return if line.is_empty() {
                Ok(None)
            } else {
                Err(BadRequest::Gone)
            };
        }
        let (taken, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        if line.len() + taken > MAX_LINE + 2 {
            return Err(BadRequest::Status(
                431,
                "a request line or header is too long",
            ));
        }
        line.extend_from_slice(&available[..taken]);
        reader.consume(taken);
        if done {
            while line.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
                line.pop();
            }
            return String::from_utf8(line)
                .map(Some)
                .map_err(|_| BadRequest::Status(400, "a header that is not UTF-8"));
        }
    }
}

/// Closes a connection whose client may still be sending: stops writing,
/// then reads and drops what arrives for a moment (at most 4 MiB, a
/// second), so the client can read the answer before the connection is
/// reset. Closing with unread input at once would send a reset that can
/// destroy the answer in flight.
pub fn linger(reader: &mut BufReader<TcpStream>) {
    let stream = reader.get_ref();
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut left = 4usize << 20;
    let mut buf = [0u8; 16 * 1024];
    while left > 0 && Instant::now() < deadline {
        match reader.get_mut().read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

/// What a response carries.
pub enum Body {
    Text(String),
    /// `len` bytes of `file` from `start`.
    File {
        file: File,
        start: u64,
        len: u64,
    },
}

impl Body {
    pub fn len(&self) -> u64 {
        match self {
            Body::Text(t) => t.len() as u64,
            Body::File { len, .. } => *len,
        }
    }
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Response {
    pub fn new(status: u16, body: Body) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body,
        }
    }

    /// A short plain-text answer.
    pub fn text(status: u16, text: &str) -> Self {
        Response::new(status, Body::Text(format!("{text}\n")))
            .with("Content-Type", "text/plain; charset=utf-8")
    }

    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// Writes `response` (only its head for a HEAD request: the
/// `Content-Length` still says what a GET would send). Returns the body
/// bytes sent.
pub fn write_response(
    stream: &mut TcpStream,
    response: Response,
    head_only: bool,
    keep_alive: bool,
) -> io::Result<u64> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason(response.status)
    );
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n", response.body.len()));
    let connection = if keep_alive { "keep-alive" } else { "close" };
    head.push_str(&format!("Connection: {connection}\r\n\r\n"));
    stream.write_all(head.as_bytes())?;
    if head_only {
        return Ok(0);
    }
    match response.body {
        Body::Text(t) => stream.write_all(t.as_bytes()).map(|_| t.len() as u64),
        Body::File {
            mut file,
            start,
            len,
        } => {
            file.seek(SeekFrom::Start(start))?;
            let sent = io::copy(&mut file.take(len), stream)?;
            if sent < len {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file shrank while it was sent",
                ));
            }
            Ok(sent)
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// The byte range a `Range` header asks of a `len`-byte file: `Ok(None)`
/// for the whole file (no header, or a form we answer with all of it, such
/// as several ranges), `Err(())` when it lies wholly past the end (416).
pub fn byte_range(header: Option<&str>, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (first, last) = (first.trim(), last.trim());
    let (start, end) = if first.is_empty() {
        // `bytes=-N`: the last N bytes.
        let Ok(n) = last.parse::<u64>() else {
            return Ok(None);
        };
        if n == 0 {
            return Err(());
        }
        (len.saturating_sub(n), len)
    } else {
        let Ok(start) = first.parse::<u64>() else {
            return Ok(None);
        };
        let end = match last {
            "" => len,
            l => match l.parse::<u64>() {
                Ok(l) if l >= start => l.saturating_add(1).min(len),
                _ => return Ok(None),
            },
        };
        (start, end)
    };
    if start >= len {
        return Err(());
    }
    Ok(Some((start, end - start)))
}

#[cfg(test)]
mod tests {
    use super::byte_range;

    #[test]
    fn ranges_as_rfc_9110_reads_them() {
        let len = 1000;
        assert_eq!(byte_range(None, len), Ok(None));
        assert_eq!(byte_range(Some("bytes=0-99"), len), Ok(Some((0, 100))));
        assert_eq!(byte_range(Some("bytes=900-"), len), Ok(Some((900, 100))));
        assert_eq!(byte_range(Some("bytes=-10"), len), Ok(Some((990, 10))));
        assert_eq!(byte_range(Some("bytes=-5000"), len), Ok(Some((0, 1000))));
        assert_eq!(byte_range(Some("bytes=990-5000"), len), Ok(Some((990, 10))));
        assert_eq!(byte_range(Some("bytes=1000-"), len), Err(()));
        assert_eq!(byte_range(Some("bytes=-0"), len), Err(()));
        // Several ranges, other units and nonsense get the whole file.
        assert_eq!(byte_range(Some("bytes=0-1,5-6"), len), Ok(None));
        assert_eq!(byte_range(Some("items=0-1"), len), Ok(None));
        assert_eq!(byte_range(Some("bytes=9-3"), len), Ok(None));
        assert_eq!(byte_range(Some("bytes=x-"), len), Ok(None));
    }
}
