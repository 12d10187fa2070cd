// Signing in: Supabase's Google OAuth when the deployment has Supabase, or, on a local
// deployment (LOCAL_AUTH), a dev sign-in by email against POST /api/v1/auth/dev-token.
// Either way the page gets an access token, kept fresh; `onToken` hears every new one.

import { api } from "./api.js";

const DEV_KEY = "pizarra.dev-token";
const REFRESH_BEFORE_S = 300;

export async function createAuth(config, onToken) {
  return config.supabase_url && config.supabase_anon_key ? supabaseAuth(config, onToken) : devAuth(config, onToken);
}

function devAuth(config, onToken) {
  let current = null;
  let timer = null;
  try {
    const saved = JSON.parse(localStorage.getItem(DEV_KEY) ?? "null");
    if (saved?.access_token && saved.expires_at > Date.now() / 1000 + 60) current = saved;
  } catch {
    localStorage.removeItem(DEV_KEY);
  }

  function keep(issued) {
    current = issued;
    localStorage.setItem(DEV_KEY, JSON.stringify(issued));
    clearTimeout(timer);
    const wait = Math.max(10, issued.expires_at - Date.now() / 1000 - REFRESH_BEFORE_S);
    timer = setTimeout(renewOrRetry, wait * 1000);
    onToken(issued.access_token);
  }

  async function renew() {
    if (current) keep({ ...(await issue(current.email, current.full_name)), email: current.email, full_name: current.full_name });
  }

  async function issue(email, fullName) {
    return api("/auth/dev-token", { method: "POST", body: fullName ? { email, full_name: fullName } : { email } });
  }

  if (current) setTimeout(() => keep(current), 0);

  // A renewal that failed (the server restarting) is tried again rather than left to expire.
  async function renewOrRetry() {
    try {
      await renew();
    } catch {
      timer = setTimeout(renewOrRetry, 30_000);
    }
  }

  return {
    mode: "local",
    localAvailable: Boolean(config.local_auth),
    get token() {
      return current?.access_token ?? null;
    },
    // A new token now (an expired one was refused); null when there is no way to get one.
    async refresh() {
      if (!current) return null;
      await renew();
      return current.access_token;
    },
    async signInDev(email, fullName) {
      keep({ ...(await issue(email, fullName)), email, full_name: fullName || null });
    },
    async signOut() {
      const token = current?.access_token;
      clearTimeout(timer);
      current = null;
      localStorage.removeItem(DEV_KEY);
      if (token) await api("/auth/logout", { method: "POST", token }).catch(() => {});
      onToken(null);
    },
  };
}

async function supabaseAuth(config, onToken) {
  const { createClient } = await import("@supabase/supabase-js");
  const supabase = createClient(config.supabase_url, config.supabase_anon_key, {
    auth: { persistSession: true, autoRefreshToken: true, detectSessionInUrl: true, flowType: "pkce" },
  });
  const { data, error } = await supabase.auth.getSession();
  let token = data.session?.access_token ?? null;
  // Back from Google with an error (the student cancelled, the code expired): say so, and
  // take it out of the address.
  const params = new URLSearchParams(window.location.search + window.location.hash.replace(/^#/, "&"));
  const problem = error || params.get("error") ? "No pudimos entrar con Google. Inténtalo de nuevo." : "";
  if (params.get("error")) window.history.replaceState(null, "", window.location.pathname);
  supabase.auth.onAuthStateChange((_event, session) => {
    const next = session?.access_token ?? null;
    if (next !== token) {
      token = next;
      onToken(token);
    }
  });
  if (token) setTimeout(() => onToken(token), 0);
  return {
    mode: "supabase",
    localAvailable: false,
    problem,
    get token() {
      return token;
    },
    async refresh() {
      const { data: refreshed } = await supabase.auth.refreshSession();
      return refreshed.session?.access_token ?? null;
    },
    async signInGoogle() {
      const { error: failed } = await supabase.auth.signInWithOAuth({ provider: "google", options: { redirectTo: window.location.origin + window.location.pathname } });
      if (failed) throw Object.assign(new Error(failed.message), { code: "NETWORK" });
    },
    async signOut() {
      if (token) await api("/auth/logout", { method: "POST", token }).catch(() => {});
      await supabase.auth.signOut().catch(() => {});
    },
  };
}
