// Who is signed in. A real app gets its token from its own login; here it
// comes from the URL (?token=, minted by `hearth token`) and is kept in
// localStorage, so a reload (offline too) stays signed in.

export interface Session {
  /** The sync token, or undefined (the server then refuses to sync). */
  token: string | undefined;
  /** The token's subject: the user the notes are written as. */
  user: string;
  /** The space the notes belong to: ?space=, else the token's first scope. */
  space: string;
}

const TOKEN_KEY = 'react-notes.token';

interface Claims {
  sub?: string;
  ws?: string | string[];
}

/** The token's payload, for display and defaults only: the server verifies it. */
function readClaims(jwt: string): Claims {
  try {
    const b64 = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(b64)) as Claims;
  } catch {
    return {};
  }
}

/**
 * The session from the URL and storage. A token in the URL is stored and
 * taken out of the address bar (history, bookmarks and shared links then
 * do not carry it).
 */
export function readSession(location: Location, storage: Storage, history: History): Session {
  const params = new URLSearchParams(location.search);
  const fromURL = params.get('token');
  if (fromURL) {
    storage.setItem(TOKEN_KEY, fromURL);
    const url = new URL(location.href);
    url.searchParams.delete('token');
    history.replaceState(history.state, '', url);
  }
  const token = storage.getItem(TOKEN_KEY) ?? undefined;
  const claims = token ? readClaims(token) : {};
  const scopes = claims.ws === undefined ? [] : ([] as string[]).concat(claims.ws);
  return {
    token,
    user: claims.sub ?? 'anonymous',
    space: params.get('space') ?? scopes[0] ?? 'public',
  };
}
