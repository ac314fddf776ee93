//! Packet protection and the session handshake (issue: packet protection).
