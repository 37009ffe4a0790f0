"""The relay: model traffic from client to channel and back, in each API's wire format."""
