//! A fake Discord server on 127.0.0.1 speaking the platform's wire format.
