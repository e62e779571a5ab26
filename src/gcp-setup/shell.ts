/** Characters a POSIX shell passes through unquoted. */
const SAFE = /^[A-Za-z0-9_\-.,:/@%+=]+$/;

/** One argument, quoted for bash/sh so that copy-pasting it passes exactly `arg`. */
export function shellQuote(arg: string): string {
  if (arg !== '' && SAFE.test(arg)) return arg;
  if (!arg.includes("'")) return `'${arg}'`;
  // CEL and attribute mappings are full of single quotes; double quotes read better when safe.
  if (!/[$`\\"!]/.test(arg)) return `"${arg}"`;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** A command line: `--flag=value` keeps the flag bare and quotes the value alone. */
export function shellCommand(
  argv: readonly string[],
  options: { multiline?: boolean } = {},
): string {
  const words = argv.map((arg) => {
    const flag = /^(--[a-z0-9-]+=)(.*)$/s.exec(arg);
    return flag ? `${flag[1]}${flag[2] === '' ? "''" : shellQuote(flag[2]!)}` : shellQuote(arg);
  });
  if (!options.multiline || words.length <= 4) return words.join(' ');
  // The command words (up to the first flag) stay on the first line, one flag per line after.
  const firstFlag = words.findIndex((word) => word.startsWith('--'));
  const head = words.slice(0, firstFlag === -1 ? words.length : firstFlag).join(' ');
  const rest = firstFlag === -1 ? [] : words.slice(firstFlag);
  return [head, ...rest].join(' \\\n    ');
}
