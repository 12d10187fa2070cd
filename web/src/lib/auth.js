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
    timer = setTimeout(() => renew().catch(() => {}), wait * 1000);
    onToken(issued.access_token);
  }

  async function renew() {
    if (current) keep({ ...(await issue(current.email, current.full_name)), email: current.email, full_name: current.full_name });
  }

  async function issue(email, fullName) {
    return api("/auth/dev-token", { method: "POST", body: fullName ? { email, full_name: fullName } : { email } });
  }

  if (current) setTimeout(() => keep(current), 0);

  return {
    mode: "local",
    localAvailable: Boolean(config.local_auth),
    get token() {
      return current?.access_token ?? null;
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
  let token = (await supabase.auth.getSession()).data.session?.access_token ?? null;
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
    get token() {
      return token;
    },
    async signInGoogle() {
      await supabase.auth.signInWithOAuth({ provider: "google", options: { redirectTo: window.location.origin + window.location.pathname } });
    },
    async signOut() {
      if (token) await api("/auth/logout", { method: "POST", token }).catch(() => {});
      await supabase.auth.signOut().catch(() => {});
    },
  };
}
