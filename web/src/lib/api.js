// The HTTP API (/api/v1): JSON in and out, the student's token, errors as ApiError with the
// contract's code.

export class ApiError extends Error {
  constructor(code, message, status = 0, retryAfter = undefined) {
    super(message);
    this.code = code;
    this.status = status;
    this.retry_after = retryAfter;
  }
}

export async function api(path, { method = "GET", token = null, body = undefined, query = undefined, timeoutMs = 20_000 } = {}) {
  let url = `/api/v1${path}`;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== null && value !== "") params.set(key, value);
    if ([...params].length) url += `?${params}`;
  }
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs); // a slow network is not waited forever
  try {
    response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: abort.signal });
  } catch {
    throw new ApiError("NETWORK", "network error");
  } finally {
    clearTimeout(timer);
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = data?.error ?? {};
    throw new ApiError(error.code ?? "INTERNAL_ERROR", error.message ?? "", response.status, error.retry_after);
  }
  return data;
}
