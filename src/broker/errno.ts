/**
 * Linux errno numbers as they travel in Flux responses, with glibc's strerror() text:
 * flux-core prints an error response's own message when it has one, else strerror(errnum).
 */
const ERRNO: ReadonlyArray<readonly [number, string, string]> = [
  [1, 'EPERM', 'Operation not permitted'],
  [2, 'ENOENT', 'No such file or directory'],
  [3, 'ESRCH', 'No such process'],
  [4, 'EINTR', 'Interrupted system call'],
  [5, 'EIO', 'Input/output error'],
  [6, 'ENXIO', 'No such device or address'],
  [7, 'E2BIG', 'Argument list too long'],
  [9, 'EBADF', 'Bad file descriptor'],
  [11, 'EAGAIN', 'Resource temporarily unavailable'],
  [12, 'ENOMEM', 'Cannot allocate memory'],
  [13, 'EACCES', 'Permission denied'],
  [16, 'EBUSY', 'Device or resource busy'],
  [17, 'EEXIST', 'File exists'],
  [19, 'ENODEV', 'No such device'],
  [20, 'ENOTDIR', 'Not a directory'],
  [21, 'EISDIR', 'Is a directory'],
  [22, 'EINVAL', 'Invalid argument'],
  [24, 'EMFILE', 'Too many open files'],
  [27, 'EFBIG', 'File too large'],
  [28, 'ENOSPC', 'No space left on device'],
  [32, 'EPIPE', 'Broken pipe'],
  [34, 'ERANGE', 'Numerical result out of range'],
  [36, 'ENAMETOOLONG', 'File name too long'],
  [38, 'ENOSYS', 'Function not implemented'],
  [39, 'ENOTEMPTY', 'Directory not empty'],
  [40, 'ELOOP', 'Too many levels of symbolic links'],
  [61, 'ENODATA', 'No data available'],
  [62, 'ETIME', 'Timer expired'],
  [71, 'EPROTO', 'Protocol error'],
  [74, 'EBADMSG', 'Bad message'],
  [75, 'EOVERFLOW', 'Value too large for defined data type'],
  [84, 'EILSEQ', 'Invalid or incomplete multibyte or wide character'],
  [90, 'EMSGSIZE', 'Message too long'],
  [95, 'EOPNOTSUPP', 'Operation not supported'],
  [104, 'ECONNRESET', 'Connection reset by peer'],
  [107, 'ENOTCONN', 'Transport endpoint is not connected'],
  [110, 'ETIMEDOUT', 'Connection timed out'],
  [111, 'ECONNREFUSED', 'Connection refused'],
  [113, 'EHOSTUNREACH', 'No route to host'],
  [125, 'ECANCELED', 'Operation canceled'],
];

const BY_NUMBER = new Map(ERRNO.map(([n, name, text]) => [n, { name, text }]));
const BY_NAME = new Map(ERRNO.map(([n, name]) => [name, n]));

export const ENOENT = 2;
export const EPERM = 1;
export const EFBIG = 27;
export const ENOSYS = 38;
export const EPROTO = 71;

export function strerror(errnum: number): string {
  return BY_NUMBER.get(errnum)?.text ?? `Unknown error ${errnum}`;
}

/** `ENOENT` for 2; `E<n>` for numbers we do not name. */
export function errnoName(errnum: number): string {
  return BY_NUMBER.get(errnum)?.name ?? `E${errnum}`;
}

/** The number for a name (Node's err.code); undefined when unknown. */
export function errnoNumber(name: string): number | undefined {
  return BY_NAME.get(name);
}
