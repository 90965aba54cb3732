import { InvalidParamsError } from '../protocol/errors.js';

/**
 * Base of every refusal the security helpers raise. The rejected value nearly always comes
 * from request params (a resource URI, a tool argument), so it travels as -32602 Invalid
 * params. `data.reason` is a stable machine-readable code; messages never echo the input,
 * the server root or a resolved path, which describe the server's filesystem.
 */
export class InputRejectedError<R extends string = string> extends InvalidParamsError {
  override name = 'InputRejectedError';
  readonly reason: R;
  constructor(reason: R, message: string) {
    super(message, { reason });
    this.reason = reason;
  }
}

export type PathRejectReason =
  | 'NOT_A_STRING'
  | 'EMPTY'
  | 'TOO_LONG'
  | 'NUL_BYTE'
  | 'CONTROL_CHARACTER'
  | 'INVALID_UNICODE'
  | 'ABSOLUTE_PATH'
  | 'WINDOWS_PATH'
  | 'BACKSLASH'
  | 'TRAVERSAL'
  | 'HIDDEN_SEGMENT'
  | 'SUSPICIOUS_ENCODING'
  | 'UNICODE_LOOKALIKE'
  | 'OUTSIDE_ROOT'
  | 'SYMLINK_ESCAPE'
  | 'DANGLING_SYMLINK'
  | 'SYMLINK_LOOP'
  | 'UNRESOLVABLE';

const PATH_MESSAGES: Record<PathRejectReason, string> = {
  NOT_A_STRING: 'path must be a string',
  EMPTY: 'path is empty',
  TOO_LONG: 'path is too long',
  NUL_BYTE: 'path contains a NUL byte',
  CONTROL_CHARACTER: 'path contains a control character',
  INVALID_UNICODE: 'path contains unpaired surrogates or bidirectional controls',
  ABSOLUTE_PATH: 'path must be relative',
  WINDOWS_PATH: 'drive letters, UNC and device paths are not allowed',
  BACKSLASH: 'backslashes are not allowed',
  TRAVERSAL: 'parent-directory segments are not allowed',
  HIDDEN_SEGMENT: 'hidden files and directories are not served',
  SUSPICIOUS_ENCODING: 'percent-encoding hides a separator, dot segment or invalid UTF-8',
  UNICODE_LOOKALIKE: 'Unicode normalization turns the path into separators or dot segments',
  OUTSIDE_ROOT: 'path is outside the served directory',
  SYMLINK_ESCAPE: 'a symbolic link leads outside the served directory',
  DANGLING_SYMLINK: 'path goes through a symbolic link whose target does not exist',
  SYMLINK_LOOP: 'too many levels of symbolic links',
  UNRESOLVABLE: 'path cannot be checked',
};

/** A requested path was refused by `resolveSafePath` / `fileUriToSafePath`. */
export class PathSecurityError extends InputRejectedError<PathRejectReason> {
  override name = 'PathSecurityError';
  constructor(reason: PathRejectReason) {
    super(reason, `Path rejected: ${PATH_MESSAGES[reason]}`);
  }
}

export type UriRejectReason =
  | 'NOT_A_STRING'
  | 'EMPTY'
  | 'TOO_LONG'
  | 'CONTROL_CHARACTER'
  | 'WHITESPACE'
  | 'INVALID_UNICODE'
  | 'BACKSLASH'
  | 'MALFORMED_PERCENT_ENCODING'
  | 'INVALID_URI'
  | 'SCHEME_NOT_ALLOWED'
  | 'DANGEROUS_SCHEME'
  | 'CREDENTIALS'
  | 'REMOTE_FILE_HOST'
  | 'ENCODED_SEPARATOR';

const URI_MESSAGES: Record<UriRejectReason, string> = {
  NOT_A_STRING: 'URI must be a string',
  EMPTY: 'URI is empty',
  TOO_LONG: 'URI is too long',
  CONTROL_CHARACTER: 'URI contains a control character',
  WHITESPACE: 'URI contains whitespace',
  INVALID_UNICODE: 'URI contains unpaired surrogates or bidirectional controls',
  BACKSLASH: 'URI contains a backslash',
  MALFORMED_PERCENT_ENCODING: 'URI contains a malformed percent-escape',
  INVALID_URI: 'not an absolute URI',
  SCHEME_NOT_ALLOWED: 'URI scheme is not allowed',
  DANGEROUS_SCHEME: 'javascript:, vbscript: and data: URIs are not allowed',
  CREDENTIALS: 'URI must not carry a user name or password',
  REMOTE_FILE_HOST: 'file URI must not name a remote host',
  ENCODED_SEPARATOR: 'file URI path hides a separator or NUL in percent-encoding',
};

/** A resource URI was refused by `validateResourceUri` and friends. */
export class UriSecurityError extends InputRejectedError<UriRejectReason> {
  override name = 'UriSecurityError';
  constructor(reason: UriRejectReason) {
    super(reason, `URI rejected: ${URI_MESSAGES[reason]}`);
  }
}

export type SqlRejectReason =
  | 'INVALID_IDENTIFIER'
  | 'IDENTIFIER_TOO_LONG'
  | 'IDENTIFIER_NOT_ALLOWED'
  | 'EMPTY_LIST'
  | 'UNDEFINED_VALUE';

const SQL_MESSAGES: Record<SqlRejectReason, string> = {
  INVALID_IDENTIFIER: 'not a valid SQL identifier',
  IDENTIFIER_TOO_LONG: 'SQL identifier is too long for the dialect',
  IDENTIFIER_NOT_ALLOWED: 'SQL identifier is not in the allow-list',
  EMPTY_LIST: 'an empty list cannot be expanded into SQL',
  UNDEFINED_VALUE: 'undefined cannot be bound as a SQL parameter',
};

/** An identifier or parameter was refused by the SQL helpers. */
export class SqlSecurityError extends InputRejectedError<SqlRejectReason> {
  override name = 'SqlSecurityError';
  constructor(reason: SqlRejectReason) {
    super(reason, `SQL rejected: ${SQL_MESSAGES[reason]}`);
  }
}
