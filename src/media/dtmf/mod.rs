//! DTMF placeholder.
