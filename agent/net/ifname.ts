// Linux IFNAMSIZ is 16 including the NUL; names cannot contain '/' or whitespace, and ':' aliases are labels, not
// links. Not starting with '-' or '.' keeps a name from being read as an option or a relative path by a subprocess.
const IFNAME = /^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,14}$/;

export const isIfname = (name: unknown): name is string => typeof name === 'string' && IFNAME.test(name);
