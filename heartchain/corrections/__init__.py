"""Corrections, never edits: a `correction` entry amends the values of an earlier entry.

The kind and its registry are in `heartchain.corrections.entries`; each domain declares which of
its kinds' fields may be corrected and how its projections follow (tokens: a donation's amount
and campaign; tracing: a disbursement's payee, purpose and receipt, a handover's place and
evidence, and the campaign cash of a corrected donation).
"""
