// What the student reads for each error code of the contract (ARCHITECTURE.md section 7).
// The server's own message is more precise where it has one (which limit, which field); these
// are what is shown when it has none, or for the codes whose wording the page owns.

export const MESSAGES = {
  INVALID_INPUT: "Revisa lo que escribiste: algo no está bien.",
  UNAUTHORIZED: "Tu sesión terminó. Vuelve a entrar para seguir.",
  RATE_LIMIT_EXCEEDED: "Vas muy rápido. Espera un momento antes de preguntar otra vez.",
  TOO_MANY_CONNECTIONS: "Hay demasiadas conexiones abiertas desde tu red. Cierra otras pestañas o espera un momento; lo intentamos de nuevo.",
  INSUFFICIENT_CREDITS: "Te quedaste sin créditos. Cuando se renueven podrás seguir preguntando.",
  DAILY_LIMIT_REACHED: "Llegaste al límite de preguntas de hoy. Mañana podrás seguir.",
  AI_UNAVAILABLE: "El tutor no está disponible ahora mismo. Prueba con una pregunta parecida o inténtalo en un momento.",
  CONTENT_REFUSED: "No podemos responder esa pregunta. Intenta con una pregunta de tus materias.",
  NOT_FOUND: "No encontramos lo que buscabas.",
  INTERNAL_ERROR: "Algo salió mal de nuestro lado. Inténtalo de nuevo.",
  NETWORK: "Sin conexión con el servidor. Reintentando…",
};

// The server's codes whose own message is shown as it is (it says what to do).
const SERVER_WORDED = new Set(["INVALID_INPUT", "CONTENT_REFUSED", "AI_UNAVAILABLE", "RATE_LIMIT_EXCEEDED"]);

// {code, message?, retry_after?} -> the sentence to show.
export function friendlyError(error) {
  const code = error?.code in MESSAGES ? error.code : "INTERNAL_ERROR";
  let text = SERVER_WORDED.has(code) && typeof error?.message === "string" && error.message ? error.message : MESSAGES[code];
  const wait = Number(error?.retry_after);
  if (code === "RATE_LIMIT_EXCEEDED" && Number.isFinite(wait) && wait > 0) {
    text += ` (puedes volver a preguntar en ${Math.ceil(wait)} s)`;
  }
  return text;
}
