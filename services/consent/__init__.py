"""The consent service: GDPR consent per contact, channel, purpose and scope, as appended events."""
