/** A Redis route's login: username/password files (FileSecret watches them for rotation) over the url's, and notice of a rotation. */
import { FileSecret } from "../../../config/secrets.js";

/** How long after one secret file changed the other may still follow (FileSecret debounces 20 ms). */
const ROTATION_SETTLE_MS = 100;

export interface Login {
  username?: string;
  password?: string;
}

export class RouteCredentials {
  readonly username: FileSecret | undefined;
  readonly password: FileSecret | undefined;
  /** From the url (userinfo), below the files. */
  readonly fromUrl: Login = {};
  private seen: number;
  private pending: NodeJS.Timeout | undefined;

  constructor(files: { usernameFile?: string | undefined; passwordFile?: string | undefined }) {
    this.username = files.usernameFile ? new FileSecret(files.usernameFile) : undefined;
    this.password = files.passwordFile ? new FileSecret(files.passwordFile) : undefined;
    this.seen = this.stamp();
  }

  /** Call `rotated` when a secret file changed (FileSecret's watcher tells; never without files). */
  watch(rotated: () => void): void {
    const changed = () => {
      // Both files of one Secret swap change a moment apart (a watcher each): one rotation, with both new values.
      this.pending ??= setTimeout(() => {
        this.pending = undefined;
        const stamp = this.stamp();
        if (stamp === this.seen) return;
        this.seen = stamp;
        rotated();
      }, ROTATION_SETTLE_MS).unref();
    };
    this.username?.onChange(changed);
    this.password?.onChange(changed);
  }

  /** The login now: the files' values, else the url's. */
  current(): Login {
    const username = this.username?.value ?? this.fromUrl.username;
    const password = this.password?.value ?? this.fromUrl.password;
    return { ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password } : {}) };
  }

  describe(): Record<string, unknown> {
    return {
      ...(this.password ? { passwordFile: this.password.path, passwordChangedAt: this.password.changedAt.toISOString() } : {}),
      ...(this.username ? { usernameFile: this.username.path } : {}),
    };
  }

  close(): void {
    clearTimeout(this.pending);
    this.username?.close();
    this.password?.close();
  }

  private stamp(): number {
    return (this.username?.changedAt.getTime() ?? 0) + (this.password?.changedAt.getTime() ?? 0);
  }
}
