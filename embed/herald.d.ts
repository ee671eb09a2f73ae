// Type declarations for Herald's embeddable client, served at
// /embed/herald.d.ts next to /embed/herald.js. Copy it into a TypeScript
// project (or reference it) to type `window.Herald`. docs/EMBEDDING.md
// explains each member.

export interface HeraldOptions {
  /** Herald's address; default: the origin herald.js was loaded from. */
  url?: string;
  /** A connection token, or a function that fetches a fresh one. */
  token: string | (() => string | Promise<string>);
  /** Topics to listen to from the start. */
  topics?: string[];
  /** Resume after this event id (default: live from now). */
  lastEventId?: string;
}

export type Category = "job" | "message" | "comment" | "payment" | "social" | "system";
export type Priority = "low" | "normal" | "high" | "urgent";

export interface HeraldUser {
  id: number;
  username: string;
  display_name: string;
  role: "user" | "admin";
}

export interface HeraldNotification {
  id: number;
  category: Category;
  priority: Priority;
  title: string;
  body: string;
  url: string | null;
  key: string | null;
  read: boolean;
  /** RFC 3339, UTC. */
  created_at: string;
  actor: HeraldUser | null;
  data: unknown;
}

export interface NotificationPage {
  notifications: HeraldNotification[];
  unread_count: number;
  cursor: number;
  next_before: number | null;
}

export interface TopicUpdate<T = unknown> {
  topic: string;
  value: T;
  /** Grows with every publish; a client keeps the highest. */
  version: number;
}

export interface ReadyEvent {
  type: "ready";
  cursor: number;
  connection_id: string;
}

/** A refusal from Herald's API (`{"error": {code, message, field?}}`). */
export interface HeraldError extends Error {
  status: number;
  code: string;
}

export type ConnectionState = "connecting" | "open" | "closed";

export interface HeraldEvents {
  notification: HeraldNotification;
  notification_updated: HeraldNotification;
  notifications_read: { type: "notifications_read"; ids: number[]; unread_count: number | null };
  notifications_read_all: { type: "notifications_read_all"; up_to_id: number; category?: Category; unread_count: number | null };
  notifications_deleted: { type: "notifications_deleted"; ids: number[]; unread_count: number | null };
  unread: number;
  topic: TopicUpdate;
  state: ConnectionState;
  ready: ReadyEvent;
  reset: { type: "reset"; cursor: number };
  error: Error;
  /** Every stored event, raw. */
  event: { type: string; [field: string]: unknown };
}

export declare class Herald {
  constructor(options: HeraldOptions);
  /** The first client created on the page (what <herald-bell> uses by default). */
  static default: Herald | undefined;
  readonly url: string;
  lastEventId: string | null;
  connectionId: string | null;
  unreadCount: number | null;
  state: ConnectionState;
  connect(): this;
  close(): void;
  on<K extends keyof HeraldEvents>(type: K, handler: (value: HeraldEvents[K]) => void): () => void;
  /** `topic:<name>` receives that topic's values. */
  on(type: `topic:${string}`, handler: (value: unknown) => void): () => void;
  subscribe(topic: string): Promise<{ topics: string[] } | { forwarded: true } | null>;
  unsubscribe(topic: string): Promise<{ topics: string[] } | { forwarded: true } | null>;
  value(topic: string): unknown;
  notifications(query?: { limit?: number; status?: "all" | "unread"; before?: number; category?: Category }): Promise<NotificationPage>;
  refreshUnread(): Promise<number | null>;
  markRead(id: number): Promise<null>;
  markAllRead(): Promise<null>;
  token(force?: boolean): Promise<string>;
  request<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
}

/** <herald-bell>: a bell with the unread count and the latest notifications. */
export declare class HeraldBell extends HTMLElement {
  client: Herald | undefined;
  toggle(open?: boolean): void;
}

declare global {
  interface Window {
    Herald: typeof Herald;
  }
  interface HTMLElementTagNameMap {
    "herald-bell": HeraldBell;
  }
}
