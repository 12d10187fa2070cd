"""Supabase token verification and the @require_auth decorator."""
