"""Accounts: users of an organisation, their passwords and their browser sessions.

backend/accounts/users.py owns the state (create, roles, password, disable, sign in with lockout,
sign out, session checks); backend/accounts/passwords.py the hashing (argon2id) and the policy.
"""
