"""Campaigns: mailings dispatched only to recipients the sender may reach, within pressure."""
