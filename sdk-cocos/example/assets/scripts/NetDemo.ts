// Example scene script for Cocos Creator 3.x. In the scene: a node with the
// CourierClient component (url set in the inspector, auto-connect on) and
// this script; an optional Label shows the log.
import { _decorator, Component, Label } from 'cc';
import { CourierClient, CourierEvent, type CourierMessage, type Gap, type State } from 'courier-sdk-cocos';

const { ccclass, property } = _decorator;

interface Chat {
  from: string;
  text: string;
}

@ccclass('NetDemo')
export class NetDemo extends Component {
  @property({ type: Label, tooltip: 'Where the log goes (optional)' })
  label: Label | null = null;

  /** Log lines, newest last. */
  lines: string[] = [];

  /** Your game server hands out courier tokens after login. */
  fetchToken: () => Promise<string> = async () => {
    const res = await fetch('https://game.example.com/api/courier-token', { credentials: 'include' });
    return (await res.json()).token as string;
  };

  onLoad(): void {
    const courier = this.getComponent(CourierClient);
    if (!courier) throw new Error('NetDemo needs a CourierClient on the same node');
    // called before start() (when CourierClient connects) and on every 401
    courier.getToken = () => this.fetchToken();

    courier.onState((state: State) => {
      this.log(`state ${state}`);
      if (state === 'connected') {
        courier.join('lobby').then(
          () => this.log('joined lobby'),
          (err) => this.log(`join failed: ${err.code}`),
        );
      }
    }, this);
    courier.onGap((gap: Gap) => this.log(`missed ${gap.from}..${gap.to} in "${gap.room}": reload state`), this);

    // async handlers: acknowledged when they resolve; seen once per message id
    courier.on<Chat>('chat', async (chat) => {
      this.log(`chat ${chat.from}: ${chat.text}`);
    });
    // or every message as a node event
    this.node.on(CourierEvent.MESSAGE, (msg: CourierMessage) => {
      if (msg.event !== 'chat') this.log(`${msg.event}: ${JSON.stringify(msg.data)}`);
    }, this);
  }

  private log(line: string): void {
    this.lines.push(line);
    if (this.label) this.label.string = this.lines.slice(-12).join('\n');
  }
}
