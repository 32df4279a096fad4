//! Mapping proxy errors to the status and text the client gets.

use pingora::{Error, ErrorSource, ErrorType};

/// Status and short description for a request that failed, or `None` when the client
/// connection is already gone.
pub fn classify(e: &Error) -> Option<(u16, &'static str)> {
    match e.etype() {
        ErrorType::HTTPStatus(413) => return Some((413, "request body too large")),
        ErrorType::HTTPStatus(code) => return Some((*code, "error")),
        _ => {}
    }
    match e.esource() {
        ErrorSource::Upstream => Some(match e.etype() {
            ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => {
                (504, "upstream timed out")
            }
            _ => (502, "no upstream answered"),
        }),
        ErrorSource::Downstream => match e.etype() {
            ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => None,
            ErrorType::ReadTimedout => Some((408, "request timed out")),
            _ => Some((400, "bad request")),
        },
        ErrorSource::Internal | ErrorSource::Unset => Some((500, "internal error")),
    }
}

/// Why the client side ended a request, when it did: the client closed or reset the
/// connection (or stopped reading / sending) before the response was complete. Such a
/// request is not a failure of this proxy: it is logged at INFO, not ERROR.
pub fn client_side(e: &Error) -> Option<&'static str> {
    if e.esource() != &ErrorSource::Downstream {
        return None;
    }
    match e.etype() {
        ErrorType::ConnectionClosed => Some("client closed the connection mid-request"),
        ErrorType::ReadError => Some("client connection failed while reading the request"),
        ErrorType::WriteError => Some("client connection failed while writing the response"),
        ErrorType::ReadTimedout | ErrorType::WriteTimedout => Some("client too slow"),
        _ => None,
    }
}
