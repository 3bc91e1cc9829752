import { Activity } from "@mail/core/web/activity";
import { patch } from "@web/core/utils/patch";

/**
 * Approve / Reject buttons on approval activities in the chatter.
 * The server enforces every rule (segregation of duties, delegation);
 * the buttons only call mail.activity.action_saas_approve / _reject.
 */
patch(Activity.prototype, {
    get isSaasApproval() {
        return this.props.activity.activity_category === "saas_approval";
    },

    async onClickSaasApprove() {
        const thread = this.thread;
        const activityId = this.props.activity.id;
        await this.env.services.orm.call("mail.activity", "action_saas_approve", [[activityId]]);
        this.props.activity.remove();
        this.props.onActivityChanged(thread);
        await this.props.reloadParentView?.();
    },

    async onClickSaasReject() {
        const thread = this.thread;
        const activityId = this.props.activity.id;
        const action = await this.env.services.orm.call("mail.activity", "action_saas_reject", [
            [activityId],
        ]);
        await this.env.services.action.doAction(action, {
            onClose: () => {
                this.props.onActivityChanged(thread);
                this.props.reloadParentView?.();
            },
        });
    },
});
